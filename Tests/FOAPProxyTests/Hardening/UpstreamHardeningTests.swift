import FOAPProxy
import Foundation
import NIOCore
import NIOPosix
import XCTest

/// What a misbehaving upstream or a client that stops reading did to the answer side, reproduced with byte-level
/// upstreams (the hardening issue's numbers in the comments). Waits poll state; no timing is asserted.
final class UpstreamHardeningTests: XCTestCase {
    private let chat = #"{"model":"gpt-test","messages":[]}"#

    /// A proxy whose `gpt-test` chat goes to `upstream`, with `settings` as extra endpoint members.
    private func harness(_ upstream: RawUpstream, settings: String = "") async throws -> ProxyHarness {
        let harness = try await ProxyHarness(config: { _ in
            """
            { "raw": { "target_base_url": "\(upstream.baseURL)", "request_timeout": 5,
                "models": { "gpt-test": { "endpoints": [
                    { "path": "v1/chat/completions", "target_model_name": "up", \(settings) "x_pad": 0 } ] } } } }
            """.replacingOccurrences(of: #", "x_pad": 0"#, with: "")
        }) { _ in .json("{}") }
        self.addTeardownBlock {
            try await harness.stop()
            try upstream.stop()
        }
        return harness
    }

    // MARK: 9. first_byte_timeout with a head and then silence

    /// The overloaded-vLLM case: a 200 head at once, then nothing. The client used to get a cut 200 with 0 bytes;
    /// now the head is held until the first body byte, and the timeout is the 504 the README promises.
    func testAHeadThenSilenceIsA504WithFirstByteTimeout() async throws {
        let upstream = try RawUpstream { _ in
            .send("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
        }
        let harness = try await self.harness(upstream, settings: #""first_byte_timeout": 0.3,"#)
        let response = try await harness.send(.POST, "/v1/chat/completions", json: self.chat)
        XCTAssertEqual(response.status, 504, response.body)
        XCTAssertTrue(response.body.contains("upstream_timeout"), response.body)
        let record = try await harness.accessRecords(atLeast: 1)[0]
        XCTAssertEqual(record["status"], "504")
        XCTAssertEqual(record["upstream_status"], "200")
    }

    /// In a pool, the same silence fails over to the next upstream before any byte reached the client.
    func testAHeadThenSilenceFailsOverToTheNextUpstream() async throws {
        let stalling = try RawUpstream { _ in
            .send("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
        }
        self.addTeardownBlock { try stalling.stop() }
        let harness = try await ProxyHarness(config: { good in
            """
            { "fleet": { "request_timeout": 5, "models": { "pool": { "endpoints": [ {
                "path": "v1/chat/completions", "target_model_name": "pool-up", "strategy": "ordered",
                "first_byte_timeout": 0.3,
                "upstreams": [{"target_base_url": "\(stalling.baseURL)"}, {"target_base_url": "\(good)"}] } ] } } } }
            """
        }) { _ in .json(#"{"id":"good"}"#) }
        self.addTeardownBlock { try await harness.stop() }
        let response = try await harness.send(.POST, "/v1/chat/completions", json: #"{"model":"pool"}"#)
        XCTAssertEqual(response.status, 200, response.body)
        XCTAssertEqual(response.body, #"{"id":"good"}"#)
        let record = try await harness.accessRecords(atLeast: 1)[0]
        XCTAssertEqual(record["attempts"], "2")
        XCTAssertEqual(record["attempt_errors"], "\(stalling.baseURL) upstream_timeout")
    }

    /// A head whose first event comes in time is relayed as before.
    func testAStreamWhoseFirstEventComesInTimeIsRelayed() async throws {
        let upstream = try RawUpstream { _ in
            .sendThenClose(
                "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
                    + "f\r\ndata: {\"n\":1}\n\n\r\n0\r\n\r\n")
        }
        let harness = try await self.harness(upstream, settings: #""first_byte_timeout": 2,"#)
        let response = try await harness.send(.POST, "/v1/chat/completions", json: self.chat)
        XCTAssertEqual(response.status, 200)
        XCTAssertEqual(response.body, "data: {\"n\":1}\n\n")
    }

    // MARK: 10. Bad framing in the same read as the head

    /// Used to be an empty reply (the head written, never flushed, then the connection closed) logged as a 200.
    func testBadFramingRightAfterTheHeadIsA502() async throws {
        let upstream = try RawUpstream { _ in
            .send("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\n")
        }
        let harness = try await self.harness(upstream)
        let response = try await harness.send(.POST, "/v1/chat/completions", json: self.chat)
        XCTAssertEqual(response.status, 502, response.body)
        XCTAssertTrue(response.body.contains("upstream_error"), response.body)
        let record = try await harness.accessRecords(atLeast: 1)[0]
        XCTAssertEqual(record["status"], "502")
        XCTAssertEqual(record["upstream_status"], "200")
    }

    // MARK: 14. An unsolicited 101

    func testAnUnsolicited101IsA502() async throws {
        let upstream = try RawUpstream { _ in
            .send("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
        }
        let harness = try await self.harness(upstream)
        let response = try await harness.send(.POST, "/v1/chat/completions", json: self.chat)
        XCTAssertEqual(response.status, 502, response.body)
        XCTAssertTrue(response.body.contains("upstream_error"), response.body)
    }

    // MARK: 14. A client that stops reading

    /// The answer is cut when the client has not read it for the request timeout, and the record says the client
    /// stalled — it used to blame the upstream (`stream_timeout`).
    func testAClientThatStopsReadingIsLoggedAsStalledNotAsAnUpstreamTimeout() async throws {
        let harness = try await ProxyHarness { _ in
            .bytes(status: .ok, contentType: "application/octet-stream", size: 64 * 1024 * 1024)
        }
        self.addTeardownBlock { try await harness.stop() }
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(.autoRead, value: false)
            .channelOption(.socketOption(.so_rcvbuf), value: 4096)
            .connect(host: "127.0.0.1", port: harness.port).get()
        self.addTeardownBlock { try? await channel.close() }
        let body = #"{"model":"slow-test"}"#
        try await channel.writeAndFlush(
            ByteBuffer(
                string: "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    + "Content-Length: \(body.utf8.count)\r\n\r\n\(body)")
        ).get()
        let records = try await harness.accessRecords(atLeast: 1, within: 20)
        XCTAssertEqual(records.first?["error"], "client_stalled", "\(records)")
        XCTAssertEqual(records.first?["status"], "200")
    }

    // MARK: 14. Client-supplied values in logs and metrics

    func testLongRequestIDsAndModelIdsAreCappedInTheRecord() async throws {
        let harness = try await ProxyHarness { _ in .json("{}") }
        self.addTeardownBlock { try await harness.stop() }
        let requestID = String(repeating: "r", count: 75_000)
        let model = String(repeating: "m", count: 10_000)
        let response = try await harness.send(
            .POST, "/v1/chat/completions", json: #"{"model":"\#(model)"}"#, headers: [("X-Request-ID", requestID)])
        XCTAssertEqual(response.status, 404)
        let record = try await harness.accessRecords(atLeast: 1)[0]
        XCTAssertEqual(record["request_id"], String(repeating: "r", count: 256) + "…")
        XCTAssertEqual(record["model"], String(repeating: "m", count: 256) + "…")
    }

    /// Every made-up model id used to become its own metrics series (memory and scrape size without bound).
    func testUnknownModelIdsShareOneMetricsSeries() async throws {
        let harness = try await ProxyHarness { _ in .json("{}") }
        self.addTeardownBlock { try await harness.stop() }
        for index in 0..<20 {
            _ = try await harness.send(.POST, "/v1/chat/completions", json: #"{"model":"made-up-\#(index)"}"#)
        }
        _ = try await harness.send(.POST, "/v1/chat/completions", json: #"{"model":"gpt-test"}"#)
        _ = try await harness.accessRecords(atLeast: 21)
        let text = try XCTUnwrap(harness.engine.metrics.render())
        XCTAssertFalse(text.contains("made-up"), text)
        XCTAssertTrue(text.contains(#"gen_ai_request_model="gpt-test""#), text)
        XCTAssertTrue(text.contains(#"gen_ai_request_model="-""#), text)
    }
}
