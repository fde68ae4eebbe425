import NIOCore
import XCTest

@testable import FOAPProxy

/// `inject_stream_usage`: usage asked for on the client's behalf, counted, and kept out of the client's stream.
final class StreamUsageInjectionTests: XCTestCase {
    static let usageChunk =
        #"data: {"id":"c","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":42,"completion_tokens":7,"total_tokens":49}}"#
        + "\n\n"
    static let events = [
        #"data: {"id":"c","choices":[{"index":0,"delta":{"content":"Hi"}}]}"# + "\n\n", StreamUsageInjectionTests.usageChunk, "data: [DONE]\n\n",
    ]

    func testTheMemberGoesBeforeTheClosingBraceAndTheModelRangesStay() throws {
        let body = ByteBuffer(string: #"{"model":"m","stream":true,"messages":[]}  "#)
        let inspection = try JSONModelScanner.inspect(body)
        XCTAssertTrue(StreamUsageInjection.applies(to: inspection))
        let injected = StreamUsageInjection.inject(into: body, closingBrace: inspection.closingBrace)
        let rewritten = JSONModelRewriter.rewrite(injected, inspection: inspection, targetModel: "up")
        XCTAssertEqual(
            String(buffer: rewritten),
            #"{"model":"up","stream":true,"messages":[],"stream_options":{"include_usage":true}}  "#
        )
        let asked = try JSONModelScanner.inspect(ByteBuffer(string: #"{"model":"m","stream":true,"stream_options":{}}"#))
        XCTAssertFalse(StreamUsageInjection.applies(to: asked), "the client's own choice")
        let whole = try JSONModelScanner.inspect(ByteBuffer(string: #"{"model":"m"}"#))
        XCTAssertFalse(StreamUsageInjection.applies(to: whole))
    }

    func testFilterDropsOnlyTheUsageChunkAtEveryCut() {
        let stream = Array(Self.events.joined().utf8)
        let expected = Self.events[0] + Self.events[2]
        for cut in 1..<stream.count {
            var filter = StreamEventFilter([.dropUsageChunk])
            var output = String(buffer: filter.filter(ByteBuffer(bytes: stream[..<cut])))
            output += String(buffer: filter.filter(ByteBuffer(bytes: stream[cut...])))
            output += filter.finish().map { String(buffer: $0) } ?? ""
            XCTAssertEqual(output, expected, "cut at \(cut)")
        }
    }

    /// Python servers write `json.dumps` defaults (`"choices": [], "usage": {…}`): the chunk the client did not ask
    /// for used to leak through. Any JSON whitespace between the tokens is the same chunk; a chunk with choices or
    /// without usage is not.
    func testTheUsageChunkIsRecognisedWhateverTheWhitespace() {
        let usageChunks = [
            #"data: {"id": "c", "choices": [], "usage": {"prompt_tokens": 42}}"#,
            "data: {\"choices\" :\t[ ] ,\n\"usage\"\r\n: {\"prompt_tokens\":1}}",
            #"data: {"usage":{"prompt_tokens":1},"choices":[]}"#,
        ]
        for chunk in usageChunks {
            XCTAssertTrue(UsageChunkFilter.isUsageChunk(ArraySlice(Array(chunk.utf8))), chunk)
        }
        let others = [
            #"data: {"choices": [{"index": 0}], "usage": {"prompt_tokens": 42}}"#,
            #"data: {"choices": [], "usage": null}"#,
            #"data: {"choices": []}"#,
        ]
        for chunk in others {
            XCTAssertFalse(UsageChunkFilter.isUsageChunk(ArraySlice(Array(chunk.utf8))), chunk)
        }
        var filter = StreamEventFilter([.dropUsageChunk])
        let spaced = "data: {\"id\": \"c\", \"choices\": [{\"delta\": {}}]}\n\n" + usageChunks[0] + "\n\ndata: [DONE]\n\n"
        let output = String(buffer: filter.filter(ByteBuffer(string: spaced)))
        XCTAssertEqual(output, "data: {\"id\": \"c\", \"choices\": [{\"delta\": {}}]}\n\ndata: [DONE]\n\n")
    }

    func testThroughTheProxyTheRecordCountsTokensTheClientDidNotAskFor() async throws {
        let harness = try await ProxyHarness(
            config: { base in
                """
                { "mock": { "target_base_url": "\(base)", "inject_stream_usage": true,
                    "models": { "gpt-test": { "endpoints": [ { "path": "v1/chat/completions", "target_model_name": "up" } ] } } } }
                """
            },
            respond: { request in
                let asked = request.bodyString.contains(#""include_usage":true"#)
                let events = asked ? Self.events : [Self.events[0], Self.events[2]]
                return .chunks(
                    status: .ok, headers: [("Content-Type", "text/event-stream")], chunks: events,
                    interval: .milliseconds(1)
                )
            }
        )
        self.addTeardownBlock { try await harness.stop() }
        let injected = try await harness.send(.POST, "/v1/chat/completions", json: #"{"model":"gpt-test","stream":true}"#)
        XCTAssertEqual(injected.body, Self.events[0] + Self.events[2], "the client did not ask for the usage chunk")
        XCTAssertTrue(harness.upstream.requests[0].bodyString.hasSuffix(#","stream_options":{"include_usage":true}}"#))
        let own = try await harness.send(
            .POST, "/v1/chat/completions",
            json: #"{"model":"gpt-test","stream":true,"stream_options":{"include_usage":true}}"#
        )
        XCTAssertEqual(own.body, Self.events.joined(), "asked for it: it stays")
        let records = try await harness.accessRecords(atLeast: 2)
        XCTAssertEqual(records.map { $0["prompt_tokens"] }, ["42", "42"])
        XCTAssertEqual(records[0]["bytes_out"], String((Self.events[0] + Self.events[2]).utf8.count))
    }
}

extension StreamUsageInjectionTests {
    /// Only chat and completions streams may get the member (embeddings and responses have no such option).
    func testOnlyChatAndCompletionsRoutesMayInjectStreamUsage() {
        let may = Route.forwardedPaths.filter { Route.forward(path: $0).traits.mayInjectStreamUsage }
        XCTAssertEqual(may, ["v1/chat/completions", "v1/completions"])
    }
}
