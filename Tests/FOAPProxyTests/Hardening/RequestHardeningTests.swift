import FOAPConfig
import FOAPProxy
import Foundation
import NIOCore
import XCTest

/// What an attacker or an unlucky client does to the request side, over raw 127.0.0.1 sockets: each test sends what
/// broke foap before the fix (the hardening issue's numbers in the names' comments) and checks what must happen now.
final class RequestHardeningTests: XCTestCase {
    // MARK: 1. A second multipart `model` part

    /// Both `model` parts arrive with the head: refused before anything goes upstream.
    func testASecondModelPartInTheHeldPrefixIsRefused() async throws {
        let harness = try await self.startHardeningHarness()
        var form = MultipartBody()
        form.field("model", "audio-test")
        form.file("file", filename: "a.wav", contentType: "audio/wav", bytes: MultipartBody.trickyBytes(count: 300))
        form.field("model", "premium")
        let connection = try await self.openRawConnection(harness)
        try await connection.send(Array(self.multipartUploadHead(form).utf8) + form.bytes)
        let response = try await connection.readResponse()
        self.assertOpenAIError(response, 400, "invalid_multipart")
        XCTAssertTrue(response.bodyString.contains("more than one 'model'"), response.bodyString)
        XCTAssertTrue(harness.upstream.requests.isEmpty)
    }

    /// The second `model` part comes after the upload already streams upstream: the upload is stopped, so the
    /// upstream never receives a complete body, and the client gets the 400.
    func testASecondModelPartLateInAStreamedUploadStopsTheUpload() async throws {
        let harness = try await self.startHardeningHarness()
        var form = MultipartBody(boundary: "b0undary")
        form.field("model", "audio-test")
        form.file("file", filename: "a.wav", contentType: "audio/wav", bytes: MultipartBody.trickyBytes(count: 200_000))
        form.field("model", "premium")
        let bytes = form.bytes
        let connection = try await self.openRawConnection(harness)
        let firstPart = 150_000
        try await connection.send(Array(self.multipartUploadHead(form).utf8) + bytes.prefix(firstPart))
        let streaming = eventually { harness.upstream.bodyBytesReceived > 0 }
        XCTAssertTrue(streaming, "the upload should already stream to the upstream")
        // The rest, cut inside the second part's header block, in two reads.
        let cut = bytes.count - 30
        try await connection.send(Array(bytes[firstPart..<cut]))
        try await connection.send(Array(bytes[cut...]))
        let response = try await connection.readResponse()
        self.assertOpenAIError(response, 400, "invalid_multipart")
        XCTAssertTrue(harness.upstream.requests.isEmpty, "the upstream must never see a complete body")
        XCTAssertLessThan(harness.upstream.bodyBytesReceived, bytes.count)
    }

    // MARK: 2. Body read timeout

    func testAHeadWithoutItsBodyGets408AndTheConnectionCloses() async throws {
        let harness = try await self.startHardeningHarness(configure: { $0.bodyTimeout = .milliseconds(300) })
        let connection = try await self.openRawConnection(harness)
        try await connection.send(
            "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"
        )
        let response = try await connection.readResponse()
        self.assertOpenAIError(response, 408, "request_timeout")
        XCTAssertEqual(response.header("connection"), "close")
        let closed = try await connection.waitUntilClosed()
        XCTAssertTrue(closed)
        XCTAssertTrue(harness.upstream.requests.isEmpty)
    }

    func testABodyThatStopsHalfwayGets408() async throws {
        let harness = try await self.startHardeningHarness(configure: { $0.bodyTimeout = .milliseconds(300) })
        let connection = try await self.openRawConnection(harness)
        try await connection.send(
            "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 40\r\n\r\n"
                + #"{"model":"gpt-test","#
        )
        let response = try await connection.readResponse()
        self.assertOpenAIError(response, 408, "request_timeout")
        let records = try await harness.accessRecords(atLeast: 1)
        XCTAssertEqual(records.first?["status"], "408")
    }

    /// A streamed upload that stalls: the upstream call is abandoned, the client gets a 408.
    func testAStalledStreamedUploadGets408AndTheUpstreamCallIsAbandoned() async throws {
        let harness = try await self.startHardeningHarness(configure: { $0.bodyTimeout = .milliseconds(300) }) { _ in .hang }
        var form = MultipartBody()
        form.field("model", "audio-test")
        form.file("file", filename: "a.wav", contentType: "audio/wav", bytes: MultipartBody.trickyBytes(count: 5_000))
        let connection = try await self.openRawConnection(harness)
        try await connection.send(Array(self.multipartUploadHead(form).utf8) + form.bytes.prefix(2_000))
        let response = try await connection.readResponse()
        self.assertOpenAIError(response, 408, "request_timeout")
        XCTAssertTrue(harness.upstream.requests.isEmpty)
    }

    /// Bytes that keep trickling in, each gap shorter than the timeout, never time out.
    func testASlowButSteadyBodyIsNotCut() async throws {
        let harness = try await self.startHardeningHarness(configure: { $0.bodyTimeout = .milliseconds(400) })
        let connection = try await self.openRawConnection(harness)
        let body = Array(#"{"model":"gpt-test","messages":[]}"#.utf8)
        try await connection.send(
            "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                + "Content-Length: \(body.count)\r\n\r\n")
        for chunk in stride(from: 0, to: body.count, by: 6) {
            try await Task.sleep(nanoseconds: 100_000_000)
            try await connection.send(Array(body[chunk..<min(chunk + 6, body.count)]))
        }
        let response = try await connection.readResponse()
        XCTAssertEqual(response.status, 200, response.bodyString)
    }

    // MARK: 3. Bodies of rejected requests

    /// A refused request with a huge declared body is answered at once, not after the body.
    func testRefusalsWithALargeDeclaredBodyAreAnsweredAtOnceAndClose() async throws {
        let harness = try await self.startHardeningHarness()
        let cases: [(String, UInt, String)] = [
            ("POST /v1/nothing-here HTTP/1.1", 404, "unknown_url"),
            ("PUT /v1/chat/completions HTTP/1.1", 405, "method_not_allowed"),
            ("POST /v1/models HTTP/1.1", 405, "method_not_allowed"),
        ]
        for (requestLine, status, code) in cases {
            let connection = try await self.openRawConnection(harness)
            try await connection.send("\(requestLine)\r\nHost: x\r\nContent-Length: 300000000\r\n\r\n0123456789")
            let response = try await connection.readResponse()
            self.assertOpenAIError(response, status, code)
            XCTAssertEqual(response.header("connection"), "close", requestLine)
            let closed = try await connection.waitUntilClosed()
            XCTAssertTrue(closed, requestLine)
        }
    }

    func testAMissingKeyWithALargeBodyIs401AtOnce() async throws {
        let keyFile = FileManager.default.temporaryDirectory.appendingPathComponent("foap-keys-\(UUID().uuidString).json")
        try ClientKeysEndToEndTests.keyFile().write(to: keyFile, atomically: true, encoding: .utf8)
        self.addTeardownBlock { try? FileManager.default.removeItem(at: keyFile) }
        let harness = try await self.startHardeningHarness(
            environment: ["MOCK_KEY": "sk-upstream-secret", "FOAP_CLIENT_KEYS": keyFile.path])
        let connection = try await self.openRawConnection(harness)
        try await connection.send(
            "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 300000000\r\n\r\n{\"model\":")
        let response = try await connection.readResponse()
        self.assertOpenAIError(response, 401, "invalid_api_key")
        XCTAssertEqual(response.header("connection"), "close")
        let closed = try await connection.waitUntilClosed()
        XCTAssertTrue(closed)
    }

    /// A small body of a refused request is read and dropped: the connection stays usable.
    func testASmallRefusedBodyKeepsTheConnection() async throws {
        let harness = try await self.startHardeningHarness()
        let connection = try await self.openRawConnection(harness)
        try await connection.send("POST /v1/nothing-here HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n")
        let early = try? await connection.readResponse(within: 0.3)
        XCTAssertNil(early, "a small body is read before the answer, to keep the connection")
        try await connection.send("0123456789GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        let refused = try await connection.readResponse()
        self.assertOpenAIError(refused, 404, "unknown_url")
        XCTAssertNil(refused.header("connection"))
        let health = try await connection.readResponse()
        XCTAssertEqual(health.status, 200)
    }

    /// Routes that take no body do not read one of any size: over the discard limit it is a 413 at once.
    func testABodyOnARouteThatTakesNoneIsLimited() async throws {
        let harness = try await self.startHardeningHarness()
        let connection = try await self.openRawConnection(harness)
        try await connection.send("GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n")
        let response = try await connection.readResponse()
        self.assertOpenAIError(response, 413, "request_too_large")
        let closed = try await connection.waitUntilClosed()
        XCTAssertTrue(closed)
    }

    /// A chunked body of a route that takes none is dropped up to the limit, then refused.
    func testAChunkedBodyOnARouteThatTakesNoneIsCutAtTheLimit() async throws {
        let harness = try await self.startHardeningHarness(configure: { $0.maxDiscardedBodySize = 1_000 })
        let connection = try await self.openRawConnection(harness)
        let chunk = String(repeating: "x", count: 600)
        try await connection.send(
            "GET /health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                + "258\r\n\(chunk)\r\n258\r\n\(chunk)\r\n")
        let response = try await connection.readResponse()
        self.assertOpenAIError(response, 413, "request_too_large")
    }

    // MARK: 4. The multipart model scan

    /// More than 1 MiB before the `model` part: refused, instead of held (and searched) without bound.
    func testAModelPartAfterMoreThanOneMebibyteIsRefused() async throws {
        let harness = try await self.startHardeningHarness()
        var form = MultipartBody()
        form.file(
            "file", filename: "a.wav", contentType: "audio/wav",
            bytes: MultipartBody.trickyBytes(count: MultipartModelScanner.maximumHeldBytes + 10))
        form.field("model", "audio-test")
        let connection = try await self.openRawConnection(harness)
        try await connection.send(Array(self.multipartUploadHead(form).utf8) + form.bytes)
        let response = try await connection.readResponse()
        self.assertOpenAIError(response, 400, "invalid_multipart")
        XCTAssertTrue(response.bodyString.contains("must come before the file parts"), response.bodyString)
        XCTAssertTrue(harness.upstream.requests.isEmpty)
    }

    // MARK: 11. HEAD

    func testHeadAnswersCarryNoBody() async throws {
        let harness = try await self.startHardeningHarness()
        for target in ["/health", "/v1/models", "/v1/nothing-here", "/v1/models/nope"] {
            let connection = try await self.openRawConnection(harness)
            try await connection.send("HEAD \(target) HTTP/1.1\r\nHost: x\r\n\r\n")
            let response = try await connection.readResponse(bodyless: true)
            XCTAssertNotEqual(response.status, 0, target)
            // Whatever a body would have been has had time to arrive.
            try await Task.sleep(nanoseconds: 100_000_000)
            XCTAssertEqual(connection.unparsedBytes, 0, "\(target): bytes after a HEAD answer")
            try await connection.send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            let next = try await connection.readResponse()
            XCTAssertEqual(next.status, 200, target)
        }
    }

    func testHeadOfImageDataIsAHeadUpstream() async throws {
        let harness = try await self.startHardeningHarness(respond: { request in
            .full(status: .ok, headers: [("Content-Type", "image/png")], body: request.method == .HEAD ? "" : "PNGDATA")
        })
        let connection = try await self.openRawConnection(harness)
        try await connection.send("HEAD /v1/images/data/image-test/f.png HTTP/1.1\r\nHost: x\r\n\r\n")
        let response = try await connection.readResponse(bodyless: true)
        XCTAssertEqual(response.status, 200)
        try await Task.sleep(nanoseconds: 100_000_000)
        XCTAssertEqual(connection.unparsedBytes, 0)
        XCTAssertEqual(harness.upstream.requests.last?.method, .HEAD)
    }

    // MARK: 14. Smaller ones

    func testAContentLengthBeyondTwoToTheSixtyThreeIsTooLargeAndGetsNo100Continue() async throws {
        let harness = try await self.startHardeningHarness()
        let connection = try await self.openRawConnection(harness)
        try await connection.send(
            "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                + "Content-Length: 9223372036854775808\r\nExpect: 100-continue\r\n\r\n")
        let response = try await connection.readResponse()
        self.assertOpenAIError(response, 413, "request_too_large")
        let closed = try await connection.waitUntilClosed()
        XCTAssertTrue(closed)
    }

    func testHTTP11WithoutExactlyOneHostIs400() async throws {
        let harness = try await self.startHardeningHarness()
        for headers in ["", "Host: a\r\nHost: b\r\n"] {
            let connection = try await self.openRawConnection(harness)
            try await connection.send("GET /health HTTP/1.1\r\n\(headers)\r\n")
            let response = try await connection.readResponse()
            self.assertOpenAIError(response, 400, "bad_http_request")
            let closed = try await connection.waitUntilClosed()
            XCTAssertTrue(closed)
        }
        // HTTP/1.0 needs none.
        let old = try await self.openRawConnection(harness)
        try await old.send("GET /health HTTP/1.0\r\n\r\n")
        let response = try await old.readResponse()
        XCTAssertEqual(response.status, 200)
    }
}

extension RequestHardeningTests {
    // MARK: 6. Client credentials never reach the upstream

    /// A client's own text comes back in an error capped, as in the logs: a megabyte of model name is not a
    /// megabyte of answer.
    func testAHugeUnknownModelOrPathIsNotEchoedWhole() async throws {
        let harness = try await self.startHardeningHarness()
        let name = String(repeating: "m", count: 1_000_000)
        let unknown = try await harness.send(.POST, "/v1/chat/completions", json: #"{"model":"\#(name)"}"#)
        XCTAssertEqual(unknown.status, 404)
        XCTAssertLessThan(unknown.body.utf8.count, 1024)
        XCTAssertTrue(unknown.body.contains(#""code":"model_not_found""#), unknown.body)
        let path = "/v1/" + String(repeating: "p", count: 20_000)
        let unknownPath = try await harness.send(.GET, path)
        XCTAssertEqual(unknownPath.status, 404)
        XCTAssertLessThan(unknownPath.body.utf8.count, 1024)
    }

    /// `x-api-key` (Anthropic SDKs) and keys in the query string are the client's, not for the upstream.
    func testClientCredentialsInXAPIKeyAndTheQueryStringAreNotForwarded() async throws {
        let harness = try await self.startHardeningHarness()
        let cases: [(String, String)] = [
            ("/v1/chat/completions?api-version=2024-10-21&api-key=sk-client&key=k2", "?api-version=2024-10-21"),
            ("/v1/chat/completions?API_KEY=sk-client", ""),
            ("/v1/chat/completions?access_token=t&keyword=stays", "?keyword=stays"),
            // Percent-encoded names are the same names to the upstream's query parser.
            ("/v1/chat/completions?ke%79=k&%61pi-key=k2&x=%6By", "?x=%6By"),
        ]
        for (target, expectedQuery) in cases {
            // A browser's socket carries its key as a subprotocol; on any request that field stays here too.
            let response = try await harness.send(
                .POST, target, json: #"{"model":"gpt-test"}"#,
                headers: [
                    ("x-api-key", "sk-client-anthropic"), ("X-Api-Key", "sk-client-2"),
                    ("Sec-WebSocket-Protocol", "realtime, openai-insecure-api-key.sk-client-3"),
                ])
            XCTAssertEqual(response.status, 200)
            let upstream = try XCTUnwrap(harness.upstream.requests.last)
            XCTAssertEqual(upstream.uri, "/v1/chat/completions" + expectedQuery, target)
            XCTAssertFalse(upstream.headers.contains(name: "x-api-key"), target)
            XCTAssertFalse(upstream.headers.contains(name: "sec-websocket-protocol"), target)
            XCTAssertEqual(upstream.headers["authorization"], ["Bearer sk-upstream-secret"])
        }
    }
}
