import Foundation
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// A worker at its file-descriptor limit, through the real binary (hardening issue, item 7). It used to spin on
/// `accept4` at 100 % CPU and log nothing; now it pauses accepting, says so once per interval, counts the failures,
/// and serves again once descriptors are free.
final class FileDescriptorLimitTests: XCTestCase {
    func testAWorkerOutOfDescriptorsBacksOffLogsAndRecovers() async throws {
        let upstream = try self.startUpstream()
        let foap = try await self.startFoap(
            workers: 1, files: ["models.json": EndToEndConfig.file(upstream: upstream.baseURL, models: ["chat"])])
        let worker = try XCTUnwrap(foap.workerPID(slot: 0))
        let open = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(worker)/fd").count
        let limited = try runProgram("/usr/bin/prlimit", ["--pid", String(worker), "--nofile=\(open + 4):\(open + 4)"])
        XCTAssertEqual(limited.status, 0, limited.stderr)

        // Far more connections than descriptors left: the kernel queues them; the worker cannot accept them.
        var sockets: [CInt] = []
        defer { sockets.forEach { _ = close($0) } }
        for _ in 0..<40 {
            sockets.append(try connectLoopback(port: foap.port).get())
        }
        try await foap.waitFor("the accept failure logged") {
            !foap.log.records("accepting connections failed; pausing accepts", where: ["error": "EMFILE"]).isEmpty
        }
        // A second of being stuck at the limit: a spinning worker would fail thousands of accepts meanwhile.
        try await Task.sleep(for: .seconds(1))
        sockets.forEach { _ = close($0) }
        sockets = []
        _ = try runProgram("/usr/bin/prlimit", ["--pid", String(worker), "--nofile=65536:65536"])

        var text = ""
        try await foap.waitFor("the worker serving again, failures in the metrics") {
            text = (try? await MetricsServeTests.scrape(foap)) ?? ""
            return MetricsServeTests.total(text, #"foap_accept_errors_total{error_type="EMFILE"}"#) > 0
        }
        let failures = MetricsServeTests.total(text, #"foap_accept_errors_total{error_type="EMFILE"}"#)
        XCTAssertLessThan(failures, 50, "accepts must pause after a failure, not spin (\(failures) failures)")
        XCTAssertLessThanOrEqual(
            foap.log.records("accepting connections failed; pausing accepts").count, 2, "one line per interval")
        try await ProxyClient.shared.chat(foap.baseURL, fresh: true)
    }
}

/// Runs a system program to its end (bounded by the caller's test timeout).
func runProgram(_ path: String, _ arguments: [String]) throws -> (status: Int32, stderr: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    let errors = Pipe()
    process.standardError = errors
    process.standardOutput = FileHandle.nullDevice
    try process.run()
    process.waitUntilExit()
    let stderr = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    return (process.terminationStatus, stderr)
}
