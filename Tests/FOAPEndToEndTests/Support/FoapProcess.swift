import Foundation
import RedisTestSupport
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// `foap serve` as an operator runs it: the real binary on 127.0.0.1 and a free port, a temporary config directory,
/// JSON logs of master and workers captured in one file. The one harness for every test that starts the server.
///
/// Always `stop()` it (tests register that as a teardown block): SIGTERM, then SIGKILL after a bound, by PID, and
/// SIGKILL for any worker the log names that outlived its master.
final class FoapProcess: Sendable {
    let configDirectory: URL
    let port: Int
    let log: FoapLog
    private let process: Process
    private let scratch: URL

    var pid: Int32 { self.process.processIdentifier }
    var baseURL: String { "http://127.0.0.1:\(self.port)" }
    var isRunning: Bool { self.process.isRunning }
    var terminationStatus: Int32 { self.process.terminationStatus }

    /// Starts foap; returns once `/health` answers (use `waitUntilServing`) — the constructor only spawns.
    /// - Parameters:
    ///   - workers: worker slots.
    ///   - files: config files written before the start, name → JSON.
    ///   - environment: extra variables; `nil` values remove a variable inherited from the test process.
    convenience init(workers: Int = 3, files: [String: String], environment: [String: String?] = [:]) throws {
        try self.init(serveArguments: ["--workers", String(workers)], files: files, environment: environment)
    }

    /// Starts `foap serve` with more of the command line: `serveArguments` follow `serve --host 127.0.0.1 --port P`
    /// and win over the environment (`--config-dir`, `--log-level`, `--workers 0`, …).
    init(serveArguments: [String], files: [String: String] = [:], environment: [String: String?] = [:]) throws {
        self.scratch = FileManager.default.temporaryDirectory.appendingPathComponent("foap-e2e-\(UUID().uuidString)")
        self.configDirectory = self.scratch.appendingPathComponent("configs")
        try FileManager.default.createDirectory(at: self.configDirectory, withIntermediateDirectories: true)
        for (name, json) in files {
            try json.write(to: self.configDirectory.appendingPathComponent(name), atomically: true, encoding: .utf8)
        }
        self.port = try RedisServer.freePort()  // the shared test support's free loopback port
        let logURL = self.scratch.appendingPathComponent("foap.log")
        _ = FileManager.default.createFile(atPath: logURL.path, contents: nil)
        self.log = FoapLog(url: logURL)

        var variables = ProcessInfo.processInfo.environment
        for name in variables.keys where name.hasPrefix("NOTIFY_") || name.hasPrefix("WATCHDOG_")
            || name.hasPrefix("LISTEN_") || name.hasPrefix("FOAP_") || name == "JOURNAL_STREAM"
        {
            variables[name] = nil
        }
        variables["FOAP_CONFIG_DIR"] = self.configDirectory.path
        variables["FOAP_LOG_FORMAT"] = "json"
        variables["FOAP_LOGLEVEL"] = "info"
        for (name, value) in environment {
            variables[name] = value
        }
        let process = Process()
        process.executableURL = FoapBinary.url
        process.arguments = ["serve", "--host", "127.0.0.1", "--port", String(self.port)] + serveArguments
        process.environment = variables
        let output = try FileHandle(forWritingTo: logURL)
        process.standardOutput = output
        process.standardError = output
        process.standardInput = FileHandle.nullDevice
        try process.run()
        try output.close()
        self.process = process
    }

    /// Polls `/health` on fresh connections until it answers 200 and every slot reported `worker ready`.
    func waitUntilServing(workers: Int = 3, timeout: Duration = .seconds(20)) async throws {
        try await self.waitFor("foap serving with \(workers) ready workers", timeout: timeout) {
            guard self.log.records("worker ready").count >= workers else { return false }
            return (try? await ProxyClient.shared.health(self.baseURL)) == true
        }
    }

    /// Polls `condition` every 20 ms until it holds; fails the test with the log's tail after `timeout`.
    func waitFor(
        _ what: String,
        timeout: Duration = .seconds(15),
        file: StaticString = #filePath,
        line: UInt = #line,
        _ condition: () async throws -> Bool
    ) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await condition() {
                return
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        let message = "timed out after \(timeout) waiting for \(what); log tail:\n\(self.log.tail())"
        XCTFail(message, file: file, line: line)
        throw WaitTimeout(message: message)
    }

    /// Sends a signal to the master.
    func signal(_ signal: Int32) {
        kill(self.pid, signal)
    }

    /// Waits (bounded) for the master to exit by itself; returns its exit status, or nil if it still runs.
    func waitForExit(timeout: Duration) async -> Int32? {
        let deadline = ContinuousClock.now + timeout
        while self.process.isRunning && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
        return self.process.isRunning ? nil : self.process.terminationStatus
    }

    /// Polls until a line with `msg` = `message` (containing `containing`) is logged; fails with the log's tail.
    func waitForLine(
        _ message: String, containing: String = "", timeout: Duration = .seconds(60),
        file: StaticString = #filePath, line: UInt = #line
    ) async throws {
        let what = "a \"\(message)\" record" + (containing.isEmpty ? "" : " containing \(containing)")
        try await self.waitFor(what, timeout: timeout, file: file, line: line) {
            self.log.lines(message).contains { containing.isEmpty || $0.contains(containing) }
        }
    }

    /// SIGTERM, then SIGKILL after `grace`; then SIGKILL for workers still alive, and removes the scratch files.
    func stop(grace: Duration = .seconds(10)) async {
        await self.terminate(grace: grace)
        try? FileManager.default.removeItem(at: self.scratch)
    }

    /// `stop()` that keeps the log to read: once it returns, nothing more is written to it.
    func terminate(grace: Duration = .seconds(10)) async {
        if self.process.isRunning {
            self.signal(SIGTERM)
            if await self.waitForExit(timeout: grace) == nil {
                self.signal(SIGKILL)
                _ = await self.waitForExit(timeout: .seconds(5))
            }
        }
        for record in self.log.records("worker spawned") {
            guard let pid = record["worker_pid"].flatMap(Int32.init), ProcessProbe.isFoapWorker(pid) else {
                continue
            }
            kill(pid, SIGKILL)
        }
    }

    /// The pid of the current worker of `slot` in `generation`, from the latest `worker spawned` record.
    func workerPID(slot: Int, generation: Int = 1) -> Int32? {
        self.log.records("worker spawned", where: ["worker": String(slot), "generation": String(generation)])
            .last?["worker_pid"].flatMap(Int32.init)
    }

    /// A config file's path in the directory foap watches.
    func configFile(_ name: String) -> URL {
        self.configDirectory.appendingPathComponent(name)
    }

    /// A path outside the watched directory (for files reached through a symlink that inotify does not see).
    func scratchFile(_ name: String) -> URL {
        self.scratch.appendingPathComponent(name)
    }
}

/// A bounded wait ran out; the test already failed with the details.
struct WaitTimeout: Error, CustomStringConvertible {
    let message: String
    var description: String { self.message }
}

/// Reads /proc to tell what a pid is, so the tests never signal a process that is not theirs.
enum ProcessProbe {
    /// The one-letter state of /proc/<pid>/stat (`R`, `S`, `T` stopped, `Z` zombie), nil when the pid is gone.
    static func state(_ pid: Int32) -> Character? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else {
            return nil
        }
        return stat[stat.index(close, offsetBy: 2)...].first
    }

    /// The process has exited (its descriptors are closed): gone or a zombie.
    static func isDead(_ pid: Int32) -> Bool {
        let state = self.state(pid)
        return state == nil || state == "Z" || state == "X"
    }

    /// Alive and running `foap worker`.
    static func isFoapWorker(_ pid: Int32) -> Bool {
        guard !self.isDead(pid), let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else {
            return false
        }
        let arguments = data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
        return arguments.count >= 2 && arguments[0].hasSuffix("foap") && arguments[1] == "worker"
    }
}
