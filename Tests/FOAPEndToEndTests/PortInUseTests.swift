import Foundation
import XCTest

/// A second `foap serve` on a port the first already serves: SO_REUSEPORT let it join the first's listeners without
/// a word, and each answered part of the requests with its own config. It must stop instead, saying why.
final class PortInUseTests: XCTestCase {
    func testASecondServeOnTheSamePortStopsWithAClearError() async throws {
        let foap = try await self.startFoap(
            workers: 1, files: ["models.json": EndToEndConfig.file(upstream: "http://127.0.0.1:9", models: ["chat"])])
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("foap-second-\(UUID().uuidString)")
        _ = FileManager.default.createFile(atPath: output.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: output) }
        let second = Process()
        second.executableURL = FoapBinary.url
        second.arguments = [
            "serve", "--host", "127.0.0.1", "--port", String(foap.port), "--workers", "1",
            "--config-dir", foap.configDirectory.path,
        ]
        let handle = try FileHandle(forWritingTo: output)
        second.standardOutput = handle
        second.standardError = handle
        try second.run()
        try handle.close()
        // Bounded: should it start after all, it is stopped and the test fails instead of hanging.
        let deadline = ContinuousClock.now + .seconds(15)
        while second.isRunning, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
        }
        if second.isRunning {
            second.terminate()
            second.waitUntilExit()
            XCTFail("a second foap serve started on a port the first serves")
        }
        let text = try String(contentsOf: output, encoding: .utf8)
        XCTAssertEqual(second.terminationStatus, 1, text)
        XCTAssertTrue(text.contains("127.0.0.1:\(foap.port): another process already listens there"), text)
        let stillServing = try await ProxyClient.shared.health(foap.baseURL)
        XCTAssertTrue(stillServing, "the first one serves on")
    }
}
