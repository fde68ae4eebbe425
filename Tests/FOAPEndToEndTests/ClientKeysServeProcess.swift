import Foundation
import NIOConcurrencyHelpers

/// `foap serve` as a child process for the client key tests: JSON log lines captured from stdout, polled for.
final class ClientKeysServeProcess {
    private let process: Process
    private let output = NIOLockedValueBox<String>("")
    /// Set at end of file on the process's output: everything it wrote is in `log`.
    private let outputClosed = NIOLockedValueBox(false)

    /// Starts `foap serve` on 127.0.0.1 with a kernel-chosen port. `environment` is added to a copy of this
    /// process's environment with every `FOAP_*` variable removed, so the test decides them all.
    init(arguments: [String], environment: [String: String]) throws {
        let process = Process()
        process.executableURL = FoapBinary.url
        process.arguments = ["serve", "--host", "127.0.0.1", "--port", "0", "--log-format", "json"] + arguments
        var base = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("FOAP_") }
        base["NOTIFY_SOCKET"] = nil
        process.environment = base.merging(environment) { $1 }
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        let output = self.output
        let closed = self.outputClosed
        pipe.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            if data.isEmpty {
                handle.readabilityHandler = nil
                closed.withLockedValue { $0 = true }
            } else {
                output.withLockedValue { $0 += String(decoding: data, as: UTF8.self) }
            }
        }
        try process.run()
        self.process = process
    }

    var log: String { self.output.withLockedValue { $0 } }
    var pid: Int32 { self.process.processIdentifier }

    /// The log lines whose `msg` is `message`.
    func records(_ message: String) -> [String] {
        self.log.split(separator: "\n").map(String.init).filter { $0.contains(#""msg":"\#(message)""#) }
    }

    /// Polls until a record with `message` (and containing `containing`) appears; false after `seconds`.
    func waitFor(_ message: String, containing: String = "", seconds: Double = 60) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if self.records(message).contains(where: { containing.isEmpty || $0.contains(containing) }) {
                return true
            }
            if !self.process.isRunning { return false }
            usleep(20_000)
        }
        return false
    }

    /// The port from the master's `listening` record (or the single process's `serving` record).
    func port(seconds: Double = 60) -> Int? {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            for line in self.records("listening") + self.records("serving") {
                if let range = line.range(of: #"127\.0\.0\.1\]?:(\d+)"#, options: .regularExpression) {
                    let match = line[range]
                    return Int(match[match.index(after: match.lastIndex(of: ":")!)...])
                }
            }
            if !self.process.isRunning { return nil }
            usleep(20_000)
        }
        return nil
    }

    /// SIGTERM, then waits (bounded) for the exit; SIGKILL by PID if it does not come.
    func stop(seconds: Double = 30) {
        guard self.process.isRunning else { return }
        kill(self.process.processIdentifier, SIGTERM)
        let deadline = Date().addingTimeInterval(seconds)
        while self.process.isRunning && Date() < deadline {
            usleep(20_000)
        }
        if self.process.isRunning {
            kill(self.process.processIdentifier, SIGKILL)
            self.process.waitUntilExit()
        }
    }

    /// Stops the server and waits until its whole output has been read (bounded), so `log` is final.
    func stopAndCollect(seconds: Double = 30) {
        self.stop(seconds: seconds)
        let deadline = Date().addingTimeInterval(seconds)
        while !self.outputClosed.withLockedValue({ $0 }) && Date() < deadline {
            usleep(10_000)
        }
    }
}
