import FOAPProxy
import NIOCore
import XCTest

/// HTTP/1.x behaviour an HTTP client library hides, spoken by hand over a raw 127.0.0.1 socket to the real server.
final class HTTPEdgeCaseTests: XCTestCase {
    private func makeHarness(
        configure: (inout ProxyConfiguration) -> Void = { _ in },
        respond: @escaping @Sendable (MockUpstream.Request) -> MockUpstream.Response = { _ in .json(#"{"ok":true}"#) }
    ) async throws -> ProxyHarness {
        let harness = try await ProxyHarness(configure: configure, respond: respond)
        self.addTeardownBlock { try await harness.stop() }
        return harness
    }

    private func connect(_ harness: ProxyHarness) async throws -> RawHTTPConnection {
        let connection = try await RawHTTPConnection.connect(port: harness.port)
        self.addTeardownBlock { await connection.close() }
        return connection
    }

    private func chat(_ model: String = "gpt-test", version: String = "HTTP/1.1", extra: String = "") -> String {
        let body = #"{"model":"\#(model)"}"#
        return "POST /v1/chat/completions \(version)\r\nHost: x\r\nContent-Type: application/json\r\n"
            + "Content-Length: \(body.utf8.count)\r\n\(extra)\r\n\(body)"
    }

    private func assertOpenAIError(_ response: RawHTTPConnection.Response, _ code: String, line: UInt = #line) {
        XCTAssertEqual(response.header("content-type"), "application/json", line: line)
        XCTAssertTrue(response.bodyString.hasPrefix(#"{"error":{"message":"#), response.bodyString, line: line)
        XCTAssertTrue(response.bodyString.contains(#""code":"\#(code)""#), response.bodyString, line: line)
    }

    func testMalformedRequestsGet400JSONAndTheConnectionIsClosed() async throws {
        let harness = try await self.makeHarness()
        let malformed = [
            "GET / HTTP/1.1\r\nContent-Length: -4\r\n\r\n",
            "GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            "\u{1}\u{2}\u{3} not http at all\r\n\r\n",
            "GET /health HTTP/1.1\r\nBad Header Without Colon\r\n\r\n",
            "POST /v1/chat/completions HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        ]
        for request in malformed {
            let connection = try await self.connect(harness)
            try await connection.send(request)
            let response = try await connection.readResponse()
            XCTAssertEqual(response.status, 400, request)
            XCTAssertEqual(response.header("connection"), "close", request)
            self.assertOpenAIError(response, "bad_http_request")
            let closed = try await connection.waitUntilClosed()
            XCTAssertTrue(closed, request)
        }
        XCTAssertTrue(harness.upstream.requests.isEmpty)
    }

    func testMalformedRequestAfterAGoodOneOnTheSameConnection() async throws {
        let harness = try await self.makeHarness()
        let connection = try await self.connect(harness)
        try await connection.send("GET /health HTTP/1.1\r\nHost: x\r\n\r\nGARBAGE\u{0}\r\n\r\n")
        let first = try await connection.readResponse()
        XCTAssertEqual(first.status, 200)
        let second = try await connection.readResponse()
        XCTAssertEqual(second.status, 400)
        let closed = try await connection.waitUntilClosed()
        XCTAssertTrue(closed)
    }

    func testKeepAliveSurvivesEveryClientError() async throws {
        let harness = try await self.makeHarness()
        let connection = try await self.connect(harness)
        let requests: [(String, UInt)] = [
            ("GET /v2/nope HTTP/1.1\r\nHost: x\r\n\r\n", 404),
            ("GET /v1/models/unknown HTTP/1.1\r\nHost: x\r\n\r\n", 404),
            ("GET /v1/chat/completions HTTP/1.1\r\nHost: x\r\n\r\n", 405),
            ("DELETE /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc", 405),
            (self.chat("no-such-model"), 404),
            ("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n{nope", 400),
            (
                "POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nContent-Length: 23\r\n\r\n" + #"{"model":"audio-test"}"#
                    + " ", 404
            ),
            (self.chat(), 200),
            ("GET /health HTTP/1.1\r\nHost: x\r\n\r\n", 200),
        ]
        for (request, status) in requests {
            try await connection.send(request)
            let response = try await connection.readResponse()
            XCTAssertEqual(response.status, status, request)
            XCTAssertNil(response.header("connection"), request)
            XCTAssertFalse(connection.isClosed, request)
        }
        XCTAssertEqual(harness.upstream.requests.count, 1)
    }

    func testHTTP10IsAnsweredInHTTP10AndClosed() async throws {
        let harness = try await self.makeHarness()
        for request in ["GET /health HTTP/1.0\r\n\r\n", self.chat(version: "HTTP/1.0"), "GET /nope HTTP/1.0\r\n\r\n"] {
            let connection = try await self.connect(harness)
            try await connection.send(request)
            let response = try await connection.readResponse()
            XCTAssertEqual(response.version, "HTTP/1.0", request)
            XCTAssertFalse(response.chunked, "HTTP/1.0 has no chunked encoding")
            XCTAssertFalse(response.body.isEmpty)
            let closed = try await connection.waitUntilClosed()
            XCTAssertTrue(closed, request)
        }
        XCTAssertEqual(harness.upstream.requests.last?.bodyString, #"{"model":"upstream-chat"}"#)
    }

    func testHTTP10KeepAliveRequestStillGetsAnAnswer() async throws {
        let harness = try await self.makeHarness()
        let connection = try await self.connect(harness)
        try await connection.send("GET /v1/models HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        let response = try await connection.readResponse()
        XCTAssertEqual(response.status, 200)
        XCTAssertTrue(response.bodyString.contains(#""object":"list""#))
    }

    func testPipelinedRequestsAreAnsweredInOrder() async throws {
        // The upstream answers late, so a server that answered local routes first would be caught.
        let harness = try await self.makeHarness(respond: { request in
            .delayed(.milliseconds(50), .json(#"{"for":"\#(request.bodyString)"}"#))
        })
        let connection = try await self.connect(harness)
        try await connection.send(
            self.chat() + "GET /v1/models/nope HTTP/1.1\r\nHost: x\r\n\r\n" + self.chat("meta-llama/Llama-3.1-8B")
                + "GET /health HTTP/1.1\r\nHost: x\r\n\r\n" + "GET /v1/models/audio-test HTTP/1.1\r\nHost: x\r\n\r\n"
        )
        var answers: [String] = []
        for _ in 0..<5 {
            let response = try await connection.readResponse()
            answers.append("\(response.status) \(response.bodyString)")
        }
        XCTAssertEqual(answers.count, 5)
        XCTAssertEqual(answers[0], #"200 {"for":"{"model":"upstream-chat"}"}"#)
        XCTAssertTrue(answers[1].hasPrefix("404 "), answers[1])
        XCTAssertEqual(answers[2], #"200 {"for":"{"model":"llama"}"}"#)
        XCTAssertTrue(answers[3].hasPrefix("200 {\"status\":\"ok\",\"config_digest\":\""), answers[3])
        XCTAssertTrue(answers[4].contains(#""id":"audio-test""#), answers[4])
        XCTAssertFalse(connection.isClosed)
    }

    /// A client's `Connection: close` belongs to its own request: a keep-alive request queued behind a slow answer
    /// stays keep-alive although the request read after it asks to close; that one is answered with
    /// `Connection: close`, and the connection closes after it.
    func testAPipelinedRequestThatAsksToCloseClosesAfterItsOwnAnswerOnly() async throws {
        let harness = try await self.makeHarness(respond: { _ in .delayed(.milliseconds(50), .json("{}")) })
        let connection = try await self.connect(harness)
        try await connection.send(
            self.chat() + "GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
                + "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        var answers: [(UInt, String?)] = []
        for _ in 0..<3 {
            let response = try await connection.readResponse()
            answers.append((response.status, response.header("connection")))
        }
        XCTAssertEqual(answers.map(\.0), [200, 200, 200])
        XCTAssertEqual(answers.map(\.1), [nil, nil, "close"])
        let closed = try await connection.waitUntilClosed()
        XCTAssertTrue(closed)
    }

    func testASizedUpstreamAnswerStaysSized() async throws {
        // Relayed byte for byte, so the upstream's Content-Length holds; re-framing it as chunked would cost bytes.
        let harness = try await self.makeHarness(respond: { _ in .json(#"{"ok":true}"#) })
        let connection = try await self.connect(harness)
        try await connection.send(self.chat())
        let response = try await connection.readResponse()
        XCTAssertEqual(response.status, 200)
        XCTAssertEqual(response.header("content-length"), "11")
        XCTAssertNil(response.header("transfer-encoding"))
        XCTAssertEqual(response.bodyString, #"{"ok":true}"#)
    }

    func testMalformedRequestBehindASlowOneIsAnsweredAfterIt() async throws {
        // The first request is still waiting for its upstream when the garbage arrives: its answer comes first.
        let harness = try await self.makeHarness(respond: { _ in .delayed(.milliseconds(50), .json(#"{"ok":true}"#)) })
        let connection = try await self.connect(harness)
        try await connection.send(self.chat() + "GARBAGE\u{0}\r\n\r\n")
        let first = try await connection.readResponse()
        XCTAssertEqual(first.status, 200)
        XCTAssertEqual(first.bodyString, #"{"ok":true}"#)
        let second = try await connection.readResponse()
        XCTAssertEqual(second.status, 400)
        self.assertOpenAIError(second, "bad_http_request")
        let closed = try await connection.waitUntilClosed()
        XCTAssertTrue(closed)
    }

    func testManyPipelinedRequestsWithBodiesAreAllAnsweredInOrder() async throws {
        // More than one read's worth, so parts queue up behind unfinished exchanges while reads are held.
        let harness = try await self.makeHarness(respond: { request in .json(#"{"for":"\#(request.bodyString)"}"#) })
        let connection = try await self.connect(harness)
        let models = (0..<60).map { $0 % 3 == 0 ? "meta-llama/Llama-3.1-8B" : "gpt-test" }
        try await connection.send(models.map { self.chat($0) }.joined())
        for (index, model) in models.enumerated() {
            let response = try await connection.readResponse()
            let upstreamModel = model == "gpt-test" ? "upstream-chat" : "llama"
            XCTAssertEqual(response.bodyString, #"{"for":"{"model":"\#(upstreamModel)"}"}"#, "request \(index)")
        }
        XCTAssertEqual(harness.upstream.requests.count, 60)
        XCTAssertFalse(connection.isClosed)
    }

    func testABodyInSeveralReadsAndOneInASingleReadAreBothForwardedWhole() async throws {
        // The first part of a body is kept as the slice of the read it came in; later parts are appended to a copy.
        let harness = try await self.makeHarness(respond: { request in .json(#"{"for":"\#(request.bodyString)"}"#) })
        let connection = try await self.connect(harness)
        let body = #"{"model":"gpt-test","messages":[{"role":"user","content":"split across reads"}]}"#
        let bytes = Array(body.utf8)
        try await connection.send(
            "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                + "Content-Length: \(bytes.count)\r\n\r\n" + String(decoding: bytes[..<10], as: UTF8.self))
        try await Task.sleep(for: .milliseconds(30))
        try await connection.send(Array(bytes[10..<40]))
        try await Task.sleep(for: .milliseconds(30))
        try await connection.send(Array(bytes[40...]))
        let split = try await connection.readResponse()
        let forwarded = body.replacingOccurrences(of: "gpt-test", with: "upstream-chat")
        XCTAssertEqual(split.bodyString, #"{"for":"\#(forwarded)"}"#)
        try await connection.send(self.chat())
        let whole = try await connection.readResponse()
        XCTAssertEqual(whole.bodyString, #"{"for":"{"model":"upstream-chat"}"}"#)
        XCTAssertEqual(harness.upstream.requests.map(\.bodyString), [forwarded, #"{"model":"upstream-chat"}"#])
    }

    func testLargeBodiesAndASmallOneBehindThemOnOneConnectionAreForwardedWhole() async throws {
        // Large requests grow the connection's reads past what a kept body may pin (`keptReadLimit`): their bodies,
        // and the small one read into a grown buffer after them, are copied out of the read.
        let harness = try await self.makeHarness(respond: { request in .json(#"{"got":\#(request.body.readableBytes)}"#) })
        let connection = try await self.connect(harness)
        let filler = String(repeating: "0123456789", count: 3_000)
        let bodies = (0..<4).map { #"{"model":"gpt-test","messages":[{"role":"user","content":"\#($0)\#(filler)"}]}"# }
            + [#"{"model":"gpt-test"}"#]
        for body in bodies {
            try await connection.send(
                "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    + "Content-Length: \(body.utf8.count)\r\n\r\n" + body)
            let response = try await connection.readResponse()
            XCTAssertEqual(response.status, 200)
        }
        let expected = bodies.map { $0.replacingOccurrences(of: "gpt-test", with: "upstream-chat") }
        XCTAssertEqual(harness.upstream.requests.map(\.bodyString), expected)
    }

    func testExpect100ContinueIsAnsweredBeforeTheBodyIsSent() async throws {
        let harness = try await self.makeHarness()
        let connection = try await self.connect(harness)
        let body = #"{"model":"gpt-test","messages":[]}"#
        try await connection.send(
            "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                + "Content-Length: \(body.utf8.count)\r\nExpect: 100-continue\r\n\r\n"
        )
        let interim = try await connection.readResponse()
        XCTAssertEqual(interim.status, 100)
        try await connection.send(body)
        let final = try await connection.readResponse()
        XCTAssertEqual(final.status, 200)
        let upstream = try XCTUnwrap(harness.upstream.requests.last)
        XCTAssertNil(upstream.headers.first(name: "expect"), "the proxy answered the expectation itself")
        XCTAssertEqual(upstream.bodyString, #"{"model":"upstream-chat","messages":[]}"#)
    }

    func testExpect100ContinueForAnOversizedBodyIsRefusedWithoutInvitingTheBody() async throws {
        let harness = try await self.makeHarness(configure: { $0.maxBodySize = 1000 })
        let connection = try await self.connect(harness)
        try await connection.send(
            "POST /v1/audio/transcriptions HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
                + "Content-Length: 5000000\r\nExpect: 100-continue\r\n\r\n"
        )
        let response = try await connection.readResponse()
        XCTAssertEqual(response.status, 413, "no 100 Continue for a body that will be refused")
        self.assertOpenAIError(response, "request_too_large")
        let closed = try await connection.waitUntilClosed()
        XCTAssertTrue(closed)
    }

    func testExpect100ContinueForARejectedRouteIsAnsweredAtOnce() async throws {
        let harness = try await self.makeHarness()
        let connection = try await self.connect(harness)
        try await connection.send(
            "POST /v1/no-such-route HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                + "Content-Length: 100\r\nExpect: 100-continue\r\n\r\n"
        )
        // Answered without waiting for the 100 bytes the client holds back until it sees a 100 Continue.
        let response = try await connection.readResponse()
        XCTAssertEqual(response.status, 404)
        self.assertOpenAIError(response, "unknown_url")
        let closed = try await connection.waitUntilClosed()
        XCTAssertTrue(closed)
    }

    func testHeadRequestsGetNoBodyAndKeepTheConnectionUsable() async throws {
        let harness = try await self.makeHarness()
        let connection = try await self.connect(harness)
        try await connection.send("HEAD /health HTTP/1.1\r\nHost: x\r\n\r\nGET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        let head = try await connection.readResponse(bodyless: true)
        XCTAssertEqual(head.status, 200)
        let get = try await connection.readResponse()
        XCTAssertEqual(get.status, 200)
        XCTAssertTrue(get.bodyString.hasPrefix("{\"status\":\"ok\",\"config_digest\":\""), get.bodyString)
        XCTAssertEqual(connection.unparsedBytes, 0)
    }

    func testOversizedBodyWithoutExpectIs413AndClosed() async throws {
        let harness = try await self.makeHarness(configure: { $0.maxBodySize = 100 })
        let connection = try await self.connect(harness)
        let body = #"{"model":"gpt-test","pad":"\#(String(repeating: "x", count: 200))"}"#
        try await connection.send(
            "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                + String(body.utf8.count, radix: 16) + "\r\n" + body + "\r\n0\r\n\r\n"
        )
        let response = try await connection.readResponse()
        XCTAssertEqual(response.status, 413)
        XCTAssertEqual(response.header("connection"), "close")
        let closed = try await connection.waitUntilClosed()
        XCTAssertTrue(closed)
        XCTAssertTrue(harness.upstream.requests.isEmpty)
    }
}
