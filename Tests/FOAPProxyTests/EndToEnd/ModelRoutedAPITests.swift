import FOAPConfig
import Foundation
import NIOCore
import NIOHTTP1
import XCTest

/// The model-routed API of 2026 through a real proxy: Anthropic Messages (with `x-api-key`, Anthropic-shaped errors
/// and `auth_header`), Responses compact/input_tokens, rerank, score, tokenize, classify, pooling — routed by the
/// body's `model`, rewritten, and checked at a mock upstream that records what arrived.
final class ModelRoutedAPITests: XCTestCase {
    static let newRoutes = [
        "v1/messages", "v1/messages/count_tokens", "v1/responses/compact", "v1/responses/input_tokens", "v1/rerank",
        "rerank", "v2/rerank", "v1/score", "score", "tokenize", "detokenize", "v1/tokenize", "v1/detokenize",
        "v1/classify", "pooling",
    ]

    private func makeHarness(
        environment: [String: String] = ["MOCK_KEY": "sk-upstream-secret"],
        respond: @escaping @Sendable (MockUpstream.Request) -> MockUpstream.Response = { request in
            .json(#"{"path":"\#(request.uri)"}"#)
        }
    ) async throws -> ProxyHarness {
        let harness = try await ProxyHarness(
            config: { base in
                let endpoints = Self.newRoutes.map { #"{"path":"\#($0)","target_model_name":"up-model"}"# }
                return """
                    {
                      "vllm": { "api_key_variable": "MOCK_KEY", "target_base_url": "\(base)",
                        "models": {
                          "qwen": { "endpoints": [\(endpoints.joined(separator: ","))] },
                          "bge": { "endpoints": [
                            {"path": "v1/rerank", "target_model_name": "bge-up", "target_path": "reranking"},
                            {"path": "tokenize", "target_model_name": "bge-up", "default_for_route": true}] }
                        } },
                      "anthropic": { "api_key_variable": "MOCK_KEY", "auth_header": "x-api-key",
                        "target_base_url": "\(base)",
                        "models": { "claude": { "endpoints": [
                          {"path": "v1/messages", "target_model_name": "claude-up"}] } } }
                    }
                    """
            },
            environment: environment, respond: respond)
        self.addTeardownBlock { try await harness.stop() }
        return harness
    }

    func testEveryNewRouteIsRoutedByModelRewrittenAndGetsTheKey() async throws {
        let harness = try await self.makeHarness()
        for route in Self.newRoutes {
            let response = try await harness.send(
                .POST, "/" + route, json: #"{"model":"qwen","input":"x"}"#,
                headers: [("anthropic-version", "2023-06-01"), ("anthropic-beta", "tools-2024")])
            XCTAssertEqual(response.status, 200, route)
            let upstream = try XCTUnwrap(harness.upstream.requests.last, route)
            XCTAssertEqual(upstream.uri, "/" + route, route)
            XCTAssertEqual(upstream.bodyString, #"{"model":"up-model","input":"x"}"#, route)
            XCTAssertEqual(upstream.headers["authorization"], ["Bearer sk-upstream-secret"], route)
            XCTAssertEqual(upstream.headers.first(name: "anthropic-version"), "2023-06-01", route)
            XCTAssertEqual(upstream.headers.first(name: "anthropic-beta"), "tools-2024", route)
        }
    }

    func testTargetPathSendsTheRouteToTheUpstreamsOwnPath() async throws {
        let harness = try await self.makeHarness()
        let response = try await harness.send(.POST, "/v1/rerank", json: #"{"model":"bge","query":"q","documents":[]}"#)
        XCTAssertEqual(response.status, 200)
        XCTAssertEqual(harness.upstream.requests.last?.uri, "/reranking")
        XCTAssertEqual(harness.upstream.requests.last?.bodyString, #"{"model":"bge-up","query":"q","documents":[]}"#)
    }

    /// llama.cpp's tokenize takes no `model`: the route's `default_for_route` model serves such requests, the body
    /// unchanged; a route without one keeps the 400.
    func testARequestWithoutModelGoesToTheRoutesDefault() async throws {
        let harness = try await self.makeHarness()
        let tokenized = try await harness.send(.POST, "/tokenize", json: #"{"content":"hello"}"#)
        XCTAssertEqual(tokenized.status, 200)
        XCTAssertEqual(harness.upstream.requests.last?.bodyString, #"{"content":"hello"}"#)
        let records = try await harness.accessRecords(atLeast: 1)
        XCTAssertEqual(records.last?["model"], "bge")
        let refused = try await harness.send(.POST, "/detokenize", json: #"{"tokens":[1]}"#)
        XCTAssertEqual(refused.status, 400)
        XCTAssertTrue(refused.body.contains("missing_model"), refused.body)
    }

    func testNewRoutesAnswer405ForOtherMethodsAnd404BeyondThem() async throws {
        let harness = try await self.makeHarness()
        let wrongMethod = try await harness.send(.GET, "/v1/rerank")
        XCTAssertEqual(wrongMethod.status, 405)
        XCTAssertEqual(wrongMethod.headers.first(name: "allow"), "POST")
        let unknown = try await harness.send(.POST, "/v3/rerank", json: #"{"model":"qwen"}"#)
        XCTAssertEqual(unknown.status, 404)
    }

    /// `/health/{model}` asks each upstream with its key sent as its provider's `auth_header` says: `x-api-key` (and
    /// the `anthropic-version` Anthropic's API requires) for an Anthropic-style provider (a `Bearer` token there is
    /// refused: the model would read unhealthy), `Bearer` for the others.
    func testModelHealthSendsTheKeyAsTheProvidersAuthHeaderSays() async throws {
        let harness = try await self.makeHarness()
        let claude = try await harness.send(.GET, "/health/claude")
        XCTAssertEqual(claude.status, 200, claude.body)
        let probe = try XCTUnwrap(harness.upstream.requests.last)
        XCTAssertEqual(probe.uri, "/v1/models")
        XCTAssertEqual(probe.headers["x-api-key"], ["sk-upstream-secret"])
        XCTAssertEqual(probe.headers["anthropic-version"], ["2023-06-01"], "Anthropic's API wants its version")
        XCTAssertFalse(probe.headers.contains(name: "authorization"))
        let qwen = try await harness.send(.GET, "/health/qwen")
        XCTAssertEqual(qwen.status, 200, qwen.body)
        let bearer = try XCTUnwrap(harness.upstream.requests.last)
        XCTAssertEqual(bearer.headers["authorization"], ["Bearer sk-upstream-secret"])
        XCTAssertFalse(bearer.headers.contains(name: "x-api-key"))
        XCTAssertFalse(bearer.headers.contains(name: "anthropic-version"))
    }

    /// An Anthropic SDK's request: its key as `x-api-key` (never forwarded), the provider's key sent the way its
    /// `auth_header` says, and foap's own errors in Anthropic's shape.
    func testAnthropicClientsWithXAPIKeyAndAnthropicShapedErrors() async throws {
        let keyFile = FileManager.default.temporaryDirectory.appendingPathComponent("foap-keys-\(UUID()).json")
        let clientKey = "sk-foap-claude-client-0123456789"
        try #"{"keys":[{"name":"agents","sha256":"\#(ClientKeyDigest(hashing: clientKey.utf8).hex)","models":["claude"]}]}"#
            .write(to: keyFile, atomically: true, encoding: .utf8)
        self.addTeardownBlock { try? FileManager.default.removeItem(at: keyFile) }
        let events = [
            #"{"type":"message_start","message":{"usage":{"input_tokens":25,"output_tokens":1}}}"#,
            #"{"type":"content_block_delta","delta":{"text":"Hi"}}"#,
            #"{"type":"message_delta","usage":{"output_tokens":15}}"#,
        ]
        let harness = try await self.makeHarness(
            environment: ["MOCK_KEY": "sk-upstream-secret", "FOAP_CLIENT_KEYS": keyFile.path]
        ) { _ in .sse(events, interval: .milliseconds(1)) }
        let body = #"{"model":"claude","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"hi"}]}"#
        let streamed = try await harness.send(
            .POST, "/v1/messages", json: body, headers: [("x-api-key", clientKey), ("anthropic-version", "2023-06-01")])
        XCTAssertEqual(streamed.status, 200)
        XCTAssertEqual(streamed.body, events.map { "data: \($0)\n\n" }.joined(), "passed byte for byte")
        let upstream = try XCTUnwrap(harness.upstream.requests.last)
        XCTAssertEqual(upstream.headers["x-api-key"], ["sk-upstream-secret"], "the provider's key, as auth_header says")
        XCTAssertFalse(upstream.headers.contains(name: "authorization"))
        XCTAssertTrue(upstream.bodyString.contains(#""model":"claude-up""#))
        let record = try await harness.accessRecords(atLeast: 1)[0]
        XCTAssertEqual(record["prompt_tokens"], "25")
        XCTAssertEqual(record["completion_tokens"], "15")

        let unknown = try await harness.send(
            .POST, "/v1/messages", json: #"{"model":"nope","messages":[]}"#, headers: [("x-api-key", clientKey)])
        XCTAssertEqual(unknown.status, 404)
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(unknown.body.utf8)) as? [String: Any])
        XCTAssertEqual(object["type"] as? String, "error")
        XCTAssertEqual((object["error"] as? [String: Any])?["type"] as? String, "not_found_error")
        let noKey = try await harness.send(.POST, "/v1/messages", json: body)
        XCTAssertEqual(noKey.status, 401)
        XCTAssertTrue(noKey.body.hasPrefix(#"{"type":"error","error":{"type":"authentication_error""#), noKey.body)
        // On OpenAI routes `x-api-key` is not a client key.
        let openAI = try await harness.send(
            .POST, "/v1/rerank", json: #"{"model":"claude"}"#, headers: [("x-api-key", clientKey)])
        XCTAssertEqual(openAI.status, 401)
        XCTAssertTrue(openAI.body.hasPrefix(#"{"error":{"#), openAI.body)
    }
}
