import XCTest

@testable import FOAPConfig

/// `upstreams` and the pool settings: parsing, inheritance, and the errors an operator sees.
final class UpstreamsConfigTests: XCTestCase {
    private func errors(_ contents: String) throws -> [String] {
        try self.loadErrors(["bad.json": contents])
    }

    func testEndpointUpstreamsWithWeightsKeysAndInheritedModelName() throws {
        let snapshot = try self.loadSnapshot(
            [
                "fleet.json": """
                { "vllm": { "api_key_variable": "VLLM_KEY", "strategy": "weighted", "first_byte_timeout": 2.5,
                            "retries": 1, "max_fails": 2, "cooldown": 10,
                    "models": { "llama": { "endpoints": [ { "path": "v1/chat/completions",
                        "target_model_name": "meta-llama/Llama-3.1-8B",
                        "upstreams": [
                          { "target_base_url": "http://10.0.0.1:8000/", "weight": 3 },
                          { "target_base_url": "http://10.0.0.2:8000", "target_model_name": "llama-8b" },
                          { "target_base_url": "https://api.openai.com", "target_model_name": "gpt-4o-mini",
                            "api_key_variable": "OPENAI_KEY" } ] } ] } } } }
                """
            ],
            environment: ["VLLM_KEY": "sk-vllm", "OPENAI_KEY": "sk-openai"]
        )
        let model = try XCTUnwrap(snapshot.model("llama"))
        let endpoint = try XCTUnwrap(model.endpoint(for: "v1/chat/completions"))
        XCTAssertEqual(
            endpoint.upstreams.map(\.baseURL),
            ["http://10.0.0.1:8000", "http://10.0.0.2:8000", "https://api.openai.com"]
        )
        XCTAssertEqual(endpoint.upstreams.map(\.targetModelName), ["meta-llama/Llama-3.1-8B", "llama-8b", "gpt-4o-mini"])
        XCTAssertEqual(endpoint.upstreams.map(\.weight), [3, 1, 1])
        XCTAssertEqual(
            endpoint.upstreams.map { model.credential(of: $0) },
            [.key("sk-vllm"), .key("sk-vllm"), .key("sk-openai")]
        )
        XCTAssertEqual(
            endpoint.policy,
            PoolPolicy(strategy: .weighted, retries: 1, firstByteTimeout: 2.5, maxFails: 2, cooldown: 10)
        )
        XCTAssertEqual(endpoint.policy.maximumAttempts(upstreamCount: 3), 2)
        XCTAssertEqual(endpoint.upstreamURL(2), "https://api.openai.com/v1/chat/completions")
    }

    func testProviderUpstreamsAreTheDefaultAndAnEndpointTargetReplacesThem() throws {
        let snapshot = try self.loadSnapshot([
            "fleet.json": """
            { "p": { "upstreams": [ { "target_base_url": "http://a:1" }, { "target_base_url": "http://b:1" } ],
                "models": { "m": { "endpoints": [
                  { "path": "v1/chat/completions", "target_model_name": "chat" },
                  { "path": "v1/embeddings", "target_model_name": "embed", "target_base_url": "http://c:1",
                    "strategy": "ordered" } ] } } } }
            """
        ])
        let model = try XCTUnwrap(snapshot.model("m"))
        XCTAssertEqual(model.endpoint(for: "v1/chat/completions")?.upstreams.map(\.baseURL), ["http://a:1", "http://b:1"])
        XCTAssertEqual(model.endpoint(for: "v1/chat/completions")?.policy, PoolPolicy())
        XCTAssertEqual(model.endpoint(for: "v1/embeddings")?.upstreams.map(\.baseURL), ["http://c:1"])
        XCTAssertEqual(model.endpoint(for: "v1/embeddings")?.policy.strategy, .ordered)
    }

    func testAnExistingSingleUpstreamFileGetsTheDefaultPolicy() throws {
        let snapshot = try self.loadSnapshot([
            "old.json": """
            { "p": { "target_base_url": "http://a:1",
                "models": { "m": { "endpoints": [ { "path": "v1/embeddings", "target_model_name": "e" } ] } } } }
            """
        ])
        let endpoint = try XCTUnwrap(snapshot.model("m")?.endpoint(for: "v1/embeddings"))
        XCTAssertEqual(endpoint, EndpointConfig(path: "v1/embeddings", targetBaseURL: "http://a:1", targetModelName: "e"))
        XCTAssertEqual(endpoint.policy.maximumAttempts(upstreamCount: 1), 1)
    }

    func testEveryMistakeIsReportedWithItsPath() throws {
        let errors = try self.errors(
            """
            { "p": { "strategy": "fastest", "retries": 11, "cooldown": 301,
                "models": {
                  "both": { "endpoints": [ { "path": "v1/embeddings", "target_model_name": "e",
                            "target_base_url": "http://a:1", "upstreams": [ { "target_base_url": "http://b:1" } ] } ] },
                  "empty": { "endpoints": [ { "path": "v1/embeddings", "target_model_name": "e", "upstreams": [] } ] },
                  "bad": { "endpoints": [ { "path": "v1/embeddings", "max_fails": 0.5, "first_byte_timeout": -1,
                            "upstreams": [ { "weight": 0 }, { "target_base_url": "ftp://x" }, 3,
                                           { "target_base_url": "http://ok:1" } ] } ] },
                  "unnamed": { "endpoints": [ { "path": "v1/embeddings",
                               "upstreams": [ { "target_base_url": "http://a:1", "target_model_name": "x" },
                                              { "target_base_url": "http://b:1" } ] } ] } } } }
            """
        )
        XCTAssertEqual(
            errors,
            [
                "bad.json: p.strategy: unknown strategy; expected one of: least_inflight, round_robin, weighted, ordered",
                "bad.json: p.retries: must be a whole number from 0 to 10",
                "bad.json: p.cooldown: must be at most 300 seconds",
                "bad.json: p.models.both.endpoints[0].upstreams: set target_base_url or upstreams, not both",
                "bad.json: p.models.empty.endpoints[0].upstreams: expected a non-empty array of upstreams",
                "bad.json: p.models.bad.endpoints[0].upstreams[0].target_base_url: missing",
                "bad.json: p.models.bad.endpoints[0].upstreams[0].weight: must be a whole number from 1 to 1000",
                "bad.json: p.models.bad.endpoints[0].upstreams[1].target_base_url: must be an http:// or https:// URL",
                "bad.json: p.models.bad.endpoints[0].upstreams[2]: expected an object, found a number",
                "bad.json: p.models.bad.endpoints[0].first_byte_timeout: must be a number of seconds greater than 0 and at most 31536000",
                "bad.json: p.models.bad.endpoints[0].max_fails: must be a whole number from 1 to 100",
                "bad.json: p.models.unnamed.endpoints[0].target_model_name: missing (set it here or on every upstream)",
            ]
        )
    }

    func testInjectStreamUsageIsABooleanInheritedFromTheProvider() throws {
        let snapshot = try self.loadSnapshot([
            "ok.json": """
            { "p": { "target_base_url": "http://a:1", "inject_stream_usage": true,
                "models": { "m": { "endpoints": [
                  { "path": "v1/chat/completions", "target_model_name": "c" },
                  { "path": "v1/completions", "target_model_name": "c", "inject_stream_usage": false } ] } } } }
            """
        ])
        XCTAssertEqual(snapshot.model("m")?.endpoint(for: "v1/chat/completions")?.injectStreamUsage, true)
        XCTAssertEqual(snapshot.model("m")?.endpoint(for: "v1/completions")?.injectStreamUsage, false)
        XCTAssertEqual(
            try self.errors(#"{"p":{"target_base_url":"http://a:1","inject_stream_usage":"yes","models":{}}}"#),
            ["bad.json: p.inject_stream_usage: expected true or false, found a string"]
        )
    }

    func testAnEndpointHasAtMost64UpstreamsAlsoWhenDefinitionsMerge() throws {
        func entries(_ count: Int, port: Int) -> String {
            (0..<count).map { #"{"target_base_url":"http://10.0.\#(port).\#($0):8000"}"# }.joined(separator: ",")
        }
        func file(_ count: Int, port: Int) -> String {
            #"{"p\#(port)":{"models":{"m":{"endpoints":[{"path":"v1/embeddings","target_model_name":"e","upstreams":["#
                + entries(count, port: port) + "]}]}}}}"
        }
        XCTAssertEqual(
            try self.errors(file(65, port: 1)),
            ["bad.json: p1.models.m.endpoints[0].upstreams: at most 64 upstreams"]
        )
        XCTAssertEqual(
            try self.loadErrors(["a.json": file(40, port: 1), "b.json": file(30, port: 2)]),
            [#"b.json: p2.models.m: model id "m" would have 70 upstreams for v1/embeddings with its other definitions (at most 64)"#]
        )
        XCTAssertEqual(try self.loadSnapshot(["a.json": file(40, port: 1), "b.json": file(24, port: 2)])
            .model("m")?.endpoint(for: "v1/embeddings")?.upstreams.count, 64)
    }
}
