import Foundation
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// SIGTERM to the master drains every worker: open streams finish, then the master exits 0.
final class ShutdownTests: XCTestCase {
    func testSIGTERMWithStreamInFlightFinishesTheStreamAndExitsZero() async throws {
        let upstream = try self.startUpstream()
        let foap = try await self.startFoap(
            files: ["models.json": EndToEndConfig.file(upstream: upstream.baseURL, models: ["chat"])]
        )
        let chunks = 30
        let response = try await ProxyClient.streams.startStream(foap.baseURL, chunks: chunks, intervalMS: 50)
        let recorder = StreamRecorder(response)
        try await foap.waitFor("the first stream event") { recorder.receivedBytes > 0 }

        foap.signal(SIGTERM)
        let signalledAt = ContinuousClock.now
        // Nothing outside this master keeps its listeners (no systemd): a connection made while it drains is
        // refused at once, instead of waiting out the drain to be reset.
        try await foap.waitFor("the listeners shut") { !foap.log.records("listeners shut").isEmpty }
        switch connectLoopback(port: foap.port) {
        case .success(let descriptor):
            close(descriptor)
            XCTFail("a connection made while draining was taken: \(foap.log.tail())")
        case .failure(let error):
            XCTAssertEqual(error.code, .ECONNREFUSED, foap.log.tail())
        }
        let stream = await recorder.finish()
        XCTAssertNil(stream.error)
        XCTAssertEqual(stream.text, StreamingUpstream.expectedStream(chunks: chunks))
        XCTAssertGreaterThan(try XCTUnwrap(stream.lastChunkAt), signalledAt)

        let status = await foap.waitForExit(timeout: .seconds(20))
        XCTAssertEqual(status, 0, "the master exits 0 after a clean drain; log:\n\(foap.log.tail())")
        XCTAssertFalse(foap.log.records("draining all workers before exit").isEmpty)
        XCTAssertEqual(foap.log.records("worker exited").count, 3, foap.log.tail())
        XCTAssertEqual(foap.log.records("killing remaining workers").count, 0)
        XCTAssertTrue(foap.log.records.filter { $0["level"] == "error" }.isEmpty, foap.log.tail())
    }
}
