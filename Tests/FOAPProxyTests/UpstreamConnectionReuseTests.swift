import NIOCore
import XCTest

/// The upstream side of the hot path under a little load: keep-alive connections are reused, nothing fails.
/// (No timing is asserted; bench/run measures speed.)
final class UpstreamConnectionReuseTests: XCTestCase {
    /// AsyncHTTPClient closes connections it opened for a required event loop once released; foap once paid a new
    /// upstream TCP connection per request because of it.
    func testSequentialRequestsReuseOneUpstreamConnection() async throws {
        let harness = try await ProxyHarness { _ in .json(#"{"ok":true}"#) }
        self.addTeardownBlock { try await harness.stop() }
        for index in 0..<20 {
            let response = try await harness.send(.POST, "/v1/chat/completions", json: #"{"model":"gpt-test"}"#)
            XCTAssertEqual(response.status, 200, "request \(index)")
        }
        XCTAssertEqual(harness.upstream.requests.count, 20)
        XCTAssertEqual(harness.upstream.closedConnections, 0, "every request opened and closed its own connection")
    }

    func testConcurrentRequestsAllSucceedWithoutClosingUpstreamConnections() async throws {
        let harness = try await ProxyHarness { request in
            .json(#"{"echo":\#(request.bodyString)}"#)
        }
        self.addTeardownBlock { try await harness.stop() }
        let clients = 8
        let requestsPerClient = 25
        try await withThrowingTaskGroup(of: Void.self) { group in
            for client in 0..<clients {
                group.addTask {
                    for index in 0..<requestsPerClient {
                        let body = #"{"model":"gpt-test","n":\#(client * 1000 + index)}"#
                        let response = try await harness.send(.POST, "/v1/chat/completions", json: body)
                        XCTAssertEqual(response.status, 200)
                        XCTAssertEqual(
                            response.body,
                            #"{"echo":{"model":"upstream-chat","n":\#(client * 1000 + index)}}"#
                        )
                    }
                }
            }
            try await group.waitForAll()
        }
        XCTAssertEqual(harness.upstream.requests.count, clients * requestsPerClient)
        XCTAssertEqual(harness.upstream.closedConnections, 0)
    }
}
