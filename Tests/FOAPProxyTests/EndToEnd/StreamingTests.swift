import AsyncHTTPClient
import NIOCore
import NIOHTTP1
import XCTest

/// Streams are relayed chunk by chunk: the upstream sends chunk k+1 only after the client received chunk k, so a
/// proxy that buffered anything would stall these tests instead of passing them. No clocks involved.
final class StreamingTests: XCTestCase {
    private func post(_ harness: ProxyHarness, _ path: String, json: String) async throws -> HTTPClientResponse {
        var request = HTTPClientRequest(url: harness.baseURL + path)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(string: json))
        return try await harness.client.execute(request, timeout: .seconds(30))
    }

    /// Reads exactly `expected` from the body (however it is split into reads) and fails if more arrived with it.
    private func read(
        _ expected: [UInt8],
        from iterator: inout HTTPClientResponse.Body.AsyncIterator,
        line: UInt = #line
    ) async throws {
        var received: [UInt8] = []
        while received.count < expected.count {
            guard let chunk = try await iterator.next() else {
                XCTFail("the stream ended after \(received.count) of \(expected.count) bytes", line: line)
                return
            }
            received += chunk.readableBytesView
        }
        XCTAssertEqual(received, expected, line: line)
    }

    func testServerSentEventsArriveOneByOneAsTheUpstreamSendsThem() async throws {
        let gate = ChunkGate()
        let events = (0..<8).map { #"{"id":"chatcmpl-1","choices":[{"delta":{"content":"tok\#($0)"}}]}"# } + ["[DONE]"]
        let harness = try await ProxyHarness { _ in .gated(events: events, gate: gate) }
        self.addTeardownBlock { try await harness.stop() }

        let response = try await self.post(
            harness, "/v1/chat/completions", json: #"{"model":"gpt-test","stream":true}"#)
        XCTAssertEqual(response.status, .ok)
        XCTAssertEqual(response.headers.first(name: "content-type"), "text/event-stream")
        var iterator = response.body.makeAsyncIterator()
        for (index, event) in events.enumerated() {
            try await self.read(Array("data: \(event)\n\n".utf8), from: &iterator)
            gate.open(index + 1)
        }
        let after = try await iterator.next()
        XCTAssertNil(after, "the stream ends when the upstream's does")
        XCTAssertEqual(harness.upstream.requests.last?.bodyString, #"{"model":"upstream-chat","stream":true}"#)

        let records = try await harness.accessRecords(atLeast: 1)
        XCTAssertEqual(records[0]["stream"], "true")
        XCTAssertEqual(records[0]["status"], "200")
        XCTAssertEqual(records[0]["model"], "gpt-test")
        XCTAssertEqual(records[0]["target_model"], "upstream-chat")
        XCTAssertEqual(records[0]["bytes_out"], String(events.map { "data: \($0)\n\n".utf8.count }.reduce(0, +)))
    }

    func testResponsesAPIStreamIsRelayedTheSameWay() async throws {
        let gate = ChunkGate()
        let events = [
            #"{"type":"response.created"}"#, #"{"type":"response.output_text.delta","delta":"Hi"}"#,
            #"{"type":"response.completed"}"#,
        ]
        let harness = try await ProxyHarness { _ in .gated(events: events, gate: gate) }
        self.addTeardownBlock { try await harness.stop() }
        let response = try await self.post(
            harness, "/v1/responses", json: #"{"model":"gpt-test","stream":true,"input":"x"}"#)
        var iterator = response.body.makeAsyncIterator()
        for (index, event) in events.enumerated() {
            try await self.read(Array("data: \(event)\n\n".utf8), from: &iterator)
            gate.open(index + 1)
        }
        let end = try await iterator.next()
        XCTAssertNil(end)
    }

    func testAudioBytesStreamBackChunkByChunk() async throws {
        let gate = ChunkGate()
        let chunks = (0..<5).map { MultipartBody.trickyBytes(count: 3000 + $0 * 1000, seed: UInt8($0)) }
        let harness = try await ProxyHarness { _ in .gatedBytes(contentType: "audio/mpeg", chunks: chunks, gate: gate) }
        self.addTeardownBlock { try await harness.stop() }
        let response = try await self.post(
            harness, "/v1/audio/speech", json: #"{"model":"audio-test","input":"Hello","voice":"alloy"}"#)
        XCTAssertEqual(response.status, .ok)
        XCTAssertEqual(response.headers.first(name: "content-type"), "audio/mpeg")
        var iterator = response.body.makeAsyncIterator()
        for (index, chunk) in chunks.enumerated() {
            try await self.read(chunk, from: &iterator)
            gate.open(index + 1)
        }
        let end = try await iterator.next()
        XCTAssertNil(end)
        XCTAssertEqual(
            harness.upstream.requests.last?.bodyString, #"{"model":"tts-up","input":"Hello","voice":"alloy"}"#)
    }

    func testLargeSizedAudioAnswerIsPassedByteExact() async throws {
        let size = 3 * 1024 * 1024 + 17
        let harness = try await ProxyHarness { _ in .bytes(status: .ok, contentType: "audio/wav", size: size) }
        self.addTeardownBlock { try await harness.stop() }
        let response = try await harness.send(.POST, "/v1/audio/speech", json: #"{"model":"audio-test","input":"x"}"#)
        XCTAssertEqual(response.status, 200)
        XCTAssertEqual(response.headers.first(name: "content-type"), "audio/wav")
        XCTAssertEqual(response.bytes.readableBytes, size)
        XCTAssertTrue(response.bytes.hasSameBytes(as: MockUpstream.patternBytes(size: size)))
    }

    func testUpstreamErrorStatusOfAStreamingRequestIsKept() async throws {
        // The proxy waits for the upstream's head before answering, so a refused stream keeps its real status.
        let harness = try await ProxyHarness { _ in
            .json(
                #"{"error":{"message":"Incorrect API key","type":"invalid_request_error","code":"invalid_api_key"}}"#,
                status: .unauthorized, headers: [("WWW-Authenticate", "Bearer")])
        }
        self.addTeardownBlock { try await harness.stop() }
        let response = try await harness.send(
            .POST, "/v1/chat/completions", json: #"{"model":"gpt-test","stream":true}"#)
        XCTAssertEqual(response.status, 401)
        XCTAssertEqual(
            response.body,
            #"{"error":{"message":"Incorrect API key","type":"invalid_request_error","code":"invalid_api_key"}}"#)
        XCTAssertEqual(response.headers.first(name: "www-authenticate"), "Bearer")
    }
}
