import AsyncHTTPClient
import NIOCore
import NIOHTTP1
import XCTest

/// The proxy end to end: a real server and client over 127.0.0.1, a mock upstream behind it.
final class ForwardingEndToEndTests: XCTestCase {
    func testChatCompletionIsForwardedWithModelRewrittenAndKeyInjected() async throws {
        let harness = try await ProxyHarness { request in
            .json(
                #"{"id":"chatcmpl-1","object":"chat.completion"}"#,
                headers: [
                    ("x-request-id", "req-up-1"), ("openai-processing-ms", "12"),
                    ("x-ratelimit-remaining-requests", "99"),
                    ("Connection", "keep-alive"), ("Keep-Alive", "timeout=5"),
                ])
        }
        self.addTeardownBlock { try await harness.stop() }
        let body =
            #"{"model":"gpt-test","messages":[{"role":"user","content":"hi \"there\""}],"#
            + #""x_unknown":{"a":[1,2.5e3,null]}}"#
        let response = try await harness.send(
            .POST,
            "/v1/chat/completions?api-version=2024-10-21",
            json: body,
            headers: [
                ("Authorization", "Bearer sk-client-key"), ("OpenAI-Beta", "assistants=v2"),
                ("Idempotency-Key", "idem-1"), ("X-Request-ID", "client-req-1"),
            ]
        )
        XCTAssertEqual(response.status, 200)
        XCTAssertEqual(response.body, #"{"id":"chatcmpl-1","object":"chat.completion"}"#)
        XCTAssertEqual(response.headers.first(name: "x-request-id"), "req-up-1")
        XCTAssertEqual(response.headers.first(name: "openai-processing-ms"), "12")
        XCTAssertEqual(response.headers.first(name: "x-ratelimit-remaining-requests"), "99")
        XCTAssertNil(response.headers.first(name: "keep-alive"))

        let upstream = try XCTUnwrap(harness.upstream.requests.last)
        XCTAssertEqual(upstream.uri, "/v1/chat/completions?api-version=2024-10-21")
        XCTAssertEqual(
            upstream.bodyString,
            body.replacingOccurrences(of: #""model":"gpt-test""#, with: #""model":"upstream-chat""#)
        )
        XCTAssertEqual(upstream.headers["authorization"], ["Bearer sk-upstream-secret"])
        XCTAssertEqual(upstream.headers.first(name: "openai-beta"), "assistants=v2")
        XCTAssertEqual(upstream.headers.first(name: "idempotency-key"), "idem-1")
        XCTAssertEqual(upstream.headers.first(name: "x-request-id"), "client-req-1")
    }

    /// A body larger than the pooled client copies behind the request head goes after it as it is: the upstream
    /// gets the same bytes, with their length, and the connection carries the next request cleanly.
    func testALargeBodyIsForwardedWholeAfterItsHead() async throws {
        let harness = try await ProxyHarness { _ in .json(#"{"ok":true}"#) }
        self.addTeardownBlock { try await harness.stop() }
        let pad = String(repeating: "0123456789abcdef", count: 4096)  // 64 KiB, over the 16 KiB copy limit
        let big = #"{"model":"gpt-test","pad":"\#(pad)"}"#
        let small = #"{"model":"gpt-test","n":1}"#
        for body in [big, small, big] {
            let response = try await harness.send(.POST, "/v1/chat/completions", json: body)
            XCTAssertEqual(response.status, 200, response.body)
            let upstream = try XCTUnwrap(harness.upstream.requests.last)
            let expected = body.replacingOccurrences(of: #""model":"gpt-test""#, with: #""model":"upstream-chat""#)
            XCTAssertEqual(upstream.bodyString, expected)
            XCTAssertEqual(upstream.headers.first(name: "content-length"), String(expected.utf8.count))
            XCTAssertNil(upstream.headers.first(name: "transfer-encoding"))
        }
        XCTAssertEqual(harness.upstream.requests.count, 3)
    }

    func testEveryJSONEndpointRoutesToItsUpstreamPath() async throws {
        let harness = try await ProxyHarness { request in .json(#"{"ok":true}"#) }
        self.addTeardownBlock { try await harness.stop() }
        let routes = [
            ("v1/chat/completions", "gpt-test", "upstream-chat"),
            ("v1/completions", "gpt-test", "upstream-completions"),
            ("v1/embeddings", "gpt-test", "upstream-embed"), ("v1/moderations", "gpt-test", "upstream-mod"),
            ("v1/responses", "gpt-test", "upstream-responses"), ("v1/audio/speech", "audio-test", "tts-up"),
            ("v1/images/generations", "image-test", "img-up"),
            ("v1/chat/completions", "meta-llama/Llama-3.1-8B", "llama"),
        ]
        for (path, model, target) in routes {
            let response = try await harness.send(.POST, "/" + path, json: #"{"model":"\#(model)","input":"x"}"#)
            XCTAssertEqual(response.status, 200, path)
            let upstream = try XCTUnwrap(harness.upstream.requests.last)
            XCTAssertEqual(upstream.uri, "/" + path)
            XCTAssertEqual(upstream.bodyString, #"{"model":"\#(target)","input":"x"}"#)
        }
    }

    func testUpstreamErrorsPassThroughWithTheirStatusAndBody() async throws {
        let harness = try await ProxyHarness { _ in
            .json(
                #"{"error":{"message":"Rate limit","type":"requests","code":"rate_limit_exceeded"}}"#,
                status: .tooManyRequests, headers: [("retry-after", "7")])
        }
        self.addTeardownBlock { try await harness.stop() }
        let response = try await harness.send(.POST, "/v1/chat/completions", json: #"{"model":"gpt-test"}"#)
        XCTAssertEqual(response.status, 429)
        XCTAssertEqual(response.headers.first(name: "retry-after"), "7")
        XCTAssertTrue(response.body.contains("rate_limit_exceeded"))
    }

    func testModelsAreListedInConfigOrderAndRetrievableWithSlashes() async throws {
        let harness = try await ProxyHarness { _ in .json("{}") }
        self.addTeardownBlock { try await harness.stop() }
        let list = try await harness.send(.GET, "/v1/models")
        XCTAssertEqual(list.status, 200)
        let decoded = try JSONSerialization.jsonObject(with: Data(list.body.utf8)) as? [String: Any]
        let ids = (decoded?["data"] as? [[String: Any]])?.compactMap { $0["id"] as? String }
        XCTAssertEqual(ids, ["gpt-test", "meta-llama/Llama-3.1-8B", "audio-test", "image-test", "slow-test"])
        XCTAssertEqual(decoded?["object"] as? String, "list")

        let one = try await harness.send(.GET, "/v1/models/meta-llama/Llama-3.1-8B")
        XCTAssertEqual(one.status, 200)
        XCTAssertTrue(one.body.contains(#""id":"meta-llama/Llama-3.1-8B""#))
        XCTAssertTrue(one.body.contains(#""owned_by":"mock""#))
        let escaped = try await harness.send(.GET, "/v1/models/meta-llama%2FLlama-3.1-8B")
        XCTAssertEqual(escaped.status, 200)

        let missing = try await harness.send(.GET, "/v1/models/nope")
        XCTAssertEqual(missing.status, 404)
        XCTAssertTrue(missing.body.contains(#""code":"model_not_found""#))
    }

    func testClientMistakesGetOpenAIShapedErrors() async throws {
        let harness = try await ProxyHarness { _ in .json("{}") }
        self.addTeardownBlock { try await harness.stop() }
        let cases: [(HTTPMethod, String, String?, UInt, String)] = [
            (.POST, "/v1/chat/completions", #"{"model":"unknown-model"}"#, 404, "model_not_found"),
            (.POST, "/v1/embeddings", #"{"model":"audio-test"}"#, 404, "unsupported_route_for_model"),
            (.POST, "/v1/chat/completions", #"{"model":"gpt-test""#, 400, "invalid_json"),
            (.POST, "/v1/chat/completions", #"[1,2]"#, 400, "invalid_json"),
            (.POST, "/v1/chat/completions", #"{"messages":[]}"#, 400, "missing_model"),
            (.POST, "/v1/chat/completions", #"{"model":42}"#, 400, "invalid_model"),
            (.GET, "/v1/chat/completions", nil, 405, "method_not_allowed"),
            (.POST, "/v1/models", "{}", 405, "method_not_allowed"),
            (.GET, "/v2/whatever", nil, 404, "unknown_url"),
        ]
        for (method, path, json, status, code) in cases {
            let response = try await harness.send(method, path, json: json)
            XCTAssertEqual(response.status, status, "\(method) \(path) \(json ?? "")")
            let error = try JSONSerialization.jsonObject(with: Data(response.body.utf8)) as? [String: Any]
            let inner = error?["error"] as? [String: Any]
            XCTAssertEqual(inner?["code"] as? String, code, path)
            XCTAssertNotNil(inner?["message"] as? String)
            XCTAssertNotNil(inner?["type"] as? String)
            XCTAssertTrue(inner?.keys.contains("param") ?? false)
        }
        XCTAssertTrue(harness.upstream.requests.isEmpty, "no client mistake may reach the upstream")
    }

    func testBodyOverTheLimitIs413() async throws {
        let harness = try await ProxyHarness(configure: { $0.maxBodySize = 1000 }) { _ in .json("{}") }
        self.addTeardownBlock { try await harness.stop() }
        let big = #"{"model":"gpt-test","pad":"\#(String(repeating: "x", count: 5000))"}"#
        let response = try await harness.send(.POST, "/v1/chat/completions", json: big)
        XCTAssertEqual(response.status, 413)
        XCTAssertTrue(response.body.contains("request_too_large"))
    }

    func testHealthAndModelHealth() async throws {
        let harness = try await ProxyHarness { request in
            request.uri == "/v1/models" ? .json(#"{"data":[]}"#) : .json("{}")
        }
        self.addTeardownBlock { try await harness.stop() }
        let health = try await harness.send(.GET, "/health")
        XCTAssertEqual(health.status, 200)
        XCTAssertEqual(
            health.body, "{\"status\":\"ok\",\"config_digest\":\"\(harness.engine.snapshot.sourceDigest)\"}\n",
            "the digest lets a fleet of gateways be checked for config drift"
        )
        XCTAssertEqual(harness.engine.snapshot.sourceDigest.count, 64)
        let model = try await harness.send(.GET, "/health/meta-llama/Llama-3.1-8B")
        XCTAssertEqual(model.status, 200, model.body)
        XCTAssertTrue(model.body.contains(#""status":"ok""#))
        XCTAssertTrue(model.body.contains(harness.upstream.baseURL))
        XCTAssertFalse(model.body.contains("sk-upstream-secret"))
        XCTAssertEqual(
            harness.upstream.requests.last?.headers.first(name: "authorization"), "Bearer sk-upstream-secret")
    }

    func testModelHealthIs503WhenTheUpstreamIsDown() async throws {
        let harness = try await ProxyHarness(config: { _ in ProxyHarness.defaultConfig("http://127.0.0.1:9") }) { _ in
            .json("{}")
        }
        self.addTeardownBlock { try await harness.stop() }
        let model = try await harness.send(.GET, "/health/gpt-test")
        XCTAssertEqual(model.status, 503)
        XCTAssertTrue(model.body.contains(#""status":"error""#), model.body)
    }

    func testModelHealthIs503WithTimeoutWhenTheUpstreamIsSilent() async throws {
        let harness = try await ProxyHarness(config: { base in
            #"{"p":{"target_base_url":"\#(base)","health_timeout":0.3,"models":{"m":{"endpoints":"#
                + #"[{"path":"v1/embeddings","target_model_name":"e"}]}}}}"#
        }) { _ in .hang }
        self.addTeardownBlock { try await harness.stop() }
        let model = try await harness.send(.GET, "/health/m")
        XCTAssertEqual(model.status, 503)
        XCTAssertTrue(model.body.contains(#""status":"unhealthy""#), model.body)
        XCTAssertTrue(model.body.contains(#""error":"timeout""#), model.body)
    }

    func testUnreachableUpstreamIs502AndSilentUpstreamIs504() async throws {
        let harness = try await ProxyHarness { request in
            request.bodyString.contains("slow") ? .hang : .json("{}")
        }
        self.addTeardownBlock { try await harness.stop() }
        let timeout = try await harness.send(.POST, "/v1/chat/completions", json: #"{"model":"slow-test"}"#)
        XCTAssertEqual(timeout.status, 504)
        XCTAssertTrue(timeout.body.contains("upstream_timeout"))

        let down = try await ProxyHarness(config: { _ in ProxyHarness.defaultConfig("http://127.0.0.1:9") }) { _ in
            .json("{}")
        }
        self.addTeardownBlock { try await down.stop() }
        let refused = try await down.send(.POST, "/v1/chat/completions", json: #"{"model":"gpt-test"}"#)
        XCTAssertEqual(refused.status, 502)
        XCTAssertTrue(refused.body.contains("upstream_unreachable"))
    }

    func testMissingKeyVariableGivesAClearErrorAndNeverReachesTheUpstream() async throws {
        let harness = try await ProxyHarness(environment: [:]) { _ in .json("{}") }
        self.addTeardownBlock { try await harness.stop() }
        let response = try await harness.send(.POST, "/v1/chat/completions", json: #"{"model":"gpt-test"}"#)
        XCTAssertEqual(response.status, 503)
        XCTAssertTrue(response.body.contains("MOCK_KEY"))
        XCTAssertTrue(response.body.contains("upstream_key_missing"))
        // The model's health says the same, without asking the upstream.
        let health = try await harness.send(.GET, "/health/gpt-test")
        XCTAssertEqual(health.status, 503)
        XCTAssertTrue(health.body.contains("API key variable MOCK_KEY is not set"), health.body)
        XCTAssertTrue(harness.upstream.requests.isEmpty)
    }

    func testHTTPSUpstreamIsVerifiedWithTheConfiguredCABundle() async throws {
        let harness = try await ProxyHarness(tls: true) { _ in .json(#"{"tls":true}"#) }
        self.addTeardownBlock { try await harness.stop() }
        let response = try await harness.send(.POST, "/v1/chat/completions", json: #"{"model":"gpt-test"}"#)
        XCTAssertEqual(response.status, 200, response.body)
        XCTAssertEqual(response.body, #"{"tls":true}"#)

        // Without the CA bundle the same upstream is not trusted.
        let untrusted = try await ProxyHarness(tls: true, configure: { $0.upstream.caBundlePath = nil }) { _ in
            .json("{}")
        }
        self.addTeardownBlock { try await untrusted.stop() }
        let refused = try await untrusted.send(.POST, "/v1/chat/completions", json: #"{"model":"gpt-test"}"#)
        XCTAssertEqual(refused.status, 502)
    }
}
