import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import XCTest

/// What the client sees, and what is logged, when the upstream or the client goes away.
final class UpstreamFailureTests: XCTestCase {
    private static let chatRequest: String = {
        let body = #"{"model":"gpt-test","stream":true}"#
        return "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + "Content-Length: \(body.utf8.count)\r\n\r\n\(body)"
    }()

    private func makeHarness(
        _ respond: @escaping @Sendable (MockUpstream.Request) -> MockUpstream.Response
    ) async throws -> ProxyHarness {
        let harness = try await ProxyHarness(respond: respond)
        self.addTeardownBlock { try await harness.stop() }
        return harness
    }

    /// Polls a condition of another loop's state; never a timing assertion.
    private func eventually(_ what: String, _ condition: () -> Bool) async throws {
        let deadline = Date().addingTimeInterval(10)
        while !condition() {
            guard Date() < deadline else { return XCTFail("never happened: \(what)") }
            try await Task.sleep(nanoseconds: 2_000_000)
        }
    }

    func testClientDisconnectBeforeTheAnswerCancelsTheUpstreamRequest() async throws {
        let harness = try await self.makeHarness { _ in .hang }
        let connection = try await RawHTTPConnection.connect(port: harness.port)
        try await connection.send(Self.chatRequest)
        try await self.eventually("the upstream got the request") { harness.upstream.requests.count == 1 }
        XCTAssertEqual(harness.upstream.closedConnections, 0)
        await connection.close()
        try await self.eventually("the upstream connection was closed") { harness.upstream.closedConnections == 1 }
        let records = try await harness.accessRecords(atLeast: 1)
        XCTAssertEqual(records.last?["error"], "client_closed")
    }

    func testClientDisconnectMidStreamCancelsTheUpstreamRequest() async throws {
        let gate = ChunkGate()  // only event 0 is ever released: the stream would run forever
        let harness = try await self.makeHarness { _ in .gated(events: ["first", "never"], gate: gate) }
        let connection = try await RawHTTPConnection.connect(port: harness.port)
        try await connection.send(Self.chatRequest)
        try await self.eventually("the first event reached the client") { connection.unparsedBytes > 0 }
        await connection.close()
        try await self.eventually("the upstream connection was closed") { harness.upstream.closedConnections == 1 }
        let records = try await harness.accessRecords(atLeast: 1)
        XCTAssertEqual(records.last?["error"], "client_closed")
        XCTAssertEqual(records.last?["stream"], "true")
    }

    func testUpstreamFailureMidStreamCutsTheClientStreamAndIsLogged() async throws {
        let chunks = ["data: {\"n\":1}\n\n", "data: {\"n\":2}\n\n"]
        let harness = try await self.makeHarness { _ in .cutAfter(chunks: chunks) }
        let stream = try await harness.streamUntilCut(model: "gpt-test")
        XCTAssertEqual(stream.status, 200)
        XCTAssertTrue(stream.cut, "a cut stream must not look complete to the client")
        XCTAssertEqual(stream.received, chunks.joined())

        let records = try await harness.accessRecords(atLeast: 1)
        XCTAssertEqual(records.last?["error"], "stream_cut")
        XCTAssertEqual(records.last?["status"], "200")
        let cut = try XCTUnwrap(
            harness.logEntries("upstream stream failed after the response started; connection cut").first)
        XCTAssertEqual(cut.level, .error)
        XCTAssertEqual(cut.metadata["model"]?.description, "gpt-test")
        XCTAssertEqual(cut.metadata["upstream"]?.description, harness.upstream.baseURL)
        XCTAssertEqual(cut.metadata["bytes_sent"]?.description, String(chunks.joined().utf8.count))
    }

    func testStalledStreamIsCutAfterTheRequestTimeout() async throws {
        let gate = ChunkGate()
        let harness = try await self.makeHarness { _ in .gated(events: ["one", "never"], gate: gate) }
        var request = HTTPClientRequest(url: harness.baseURL + "/v1/chat/completions")
        request.method = .POST
        request.body = .bytes(ByteBuffer(string: #"{"model":"slow-test","stream":true}"#))  // request_timeout 0.3 s
        let response = try await harness.client.execute(request, timeout: .seconds(30))
        XCTAssertEqual(response.status, .ok)
        var received = ""
        do {
            for try await chunk in response.body {
                received += String(buffer: chunk)
            }
            XCTFail("a stalled stream must be cut")
        } catch {}
        XCTAssertEqual(received, "data: one\n\n")
        let records = try await harness.accessRecords(atLeast: 1)
        XCTAssertEqual(records.last?["error"], "stream_timeout")
        try await self.eventually("the stalled upstream request was abandoned") {
            harness.upstream.closedConnections == 1
        }
    }

    func testUpstreamThatClosesWithoutAnsweringIs502() async throws {
        let harness = try await self.makeHarness { _ in .closeImmediately }
        let response = try await harness.send(.POST, "/v1/chat/completions", json: #"{"model":"gpt-test"}"#)
        XCTAssertEqual(response.status, 502)
        XCTAssertTrue(response.body.contains(#""code":"upstream_error""#), response.body)
        XCTAssertFalse(response.body.contains("sk-upstream-secret"))
        let records = try await harness.accessRecords(atLeast: 1)
        XCTAssertEqual(records.last?["error"], "upstream_error")
        XCTAssertEqual(records.last?["status"], "502")
        let warning = try XCTUnwrap(harness.logEntries("upstream request failed").first)
        XCTAssertEqual(warning.metadata["error"]?.description, "upstream_error")
    }

    func testClientVanishingWithPipelinedRequestsQueuedDropsThemAndCancelsTheOneInFlight() async throws {
        let harness = try await self.makeHarness { _ in .hang }
        let connection = try await RawHTTPConnection.connect(port: harness.port)
        try await connection.send(Self.chatRequest + Self.chatRequest + Self.chatRequest)
        try await self.eventually("the upstream got the first request") { harness.upstream.requests.count == 1 }
        await connection.close()
        try await self.eventually("the upstream request in flight was abandoned") {
            harness.upstream.closedConnections == 1
        }
        let records = try await harness.accessRecords(atLeast: 1)
        XCTAssertEqual(records.count, 1, "one record: the queued requests were never started")
        XCTAssertEqual(records.first?["error"], "client_closed")
        XCTAssertEqual(harness.upstream.requests.count, 1, "the queued requests never went upstream")
        let next = try await harness.send(.GET, "/health")
        XCTAssertEqual(next.status, 200, "the worker keeps serving")
    }

    func testSilentUpstreamIs504WithTheTimeoutInTheMessage() async throws {
        let harness = try await self.makeHarness { _ in .hang }
        let response = try await harness.send(.POST, "/v1/chat/completions", json: #"{"model":"slow-test"}"#)
        XCTAssertEqual(response.status, 504)
        XCTAssertTrue(response.body.contains("0.3 s"), response.body)
        XCTAssertTrue(response.body.contains(#""type":"server_error""#))
        try await self.eventually("the timed-out upstream request was abandoned") {
            harness.upstream.closedConnections == 1
        }
        // The connection to the client is still usable.
        let next = try await harness.send(.GET, "/health")
        XCTAssertEqual(next.status, 200)
    }

    /// The upstream timeout timer belongs to the connection and outlives requests: a later request with a shorter
    /// timeout on the same keep-alive connection must still time out on its own deadline.
    func testShorterTimeoutOfALaterRequestOnTheSameConnectionStillFires() async throws {
        let harness = try await self.makeHarness { request in
            request.bodyString.contains("slow") ? .hang : .json(#"{"ok":true}"#)
        }
        let connection = try await RawHTTPConnection.connect(port: harness.port)
        defer { Task { await connection.close() } }
        func post(_ model: String) -> String {
            let body = #"{"model":"\#(model)"}"#
            return "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                + "Content-Length: \(body.utf8.count)\r\n\r\n\(body)"
        }
        try await connection.send(post("gpt-test"))  // request_timeout 5 s: the connection's timer is set for it
        let first = try await connection.readResponse()
        XCTAssertEqual(first.status, 200)
        try await connection.send(post("slow-test"))  // request_timeout 0.3 s, and the upstream never answers
        let second = try await connection.readResponse(within: 4)
        XCTAssertEqual(second.status, 504, "timed out on its own 0.3 s deadline, not the earlier request's 5 s one")
    }

    func testRefusedUpstreamIs502UpstreamUnreachable() async throws {
        let harness = try await ProxyHarness(config: { _ in ProxyHarness.defaultConfig("http://127.0.0.1:9") }) { _ in
            .hang
        }
        self.addTeardownBlock { try await harness.stop() }
        for model in ["gpt-test", "audio-test"] {
            let path = model == "gpt-test" ? "/v1/embeddings" : "/v1/audio/speech"
            let response = try await harness.send(.POST, path, json: #"{"model":"\#(model)"}"#)
            XCTAssertEqual(response.status, 502, model)
            XCTAssertTrue(response.body.contains(#""code":"upstream_unreachable""#), response.body)
            // The client learns which model failed, not where the operator's upstream lives (the record has that).
            XCTAssertFalse(response.body.contains("127.0.0.1:9"), response.body)
            XCTAssertTrue(response.body.contains("model '\(model)'"), response.body)
        }
        let records = try await harness.accessRecords(atLeast: 2)
        XCTAssertEqual(records.map { $0["upstream"] }, ["http://127.0.0.1:9", "http://127.0.0.1:9"])
    }
}
