import AsyncHTTPClient
import Foundation
import NIOCore
import XCTest

/// The 2026 routes through the real binary: Anthropic Messages with an Anthropic SDK's request shape (`x-api-key`,
/// `anthropic-version`), an upstream that takes its key as `x-api-key`, rerank with `target_path`, tokenize without
/// a model, and Anthropic-shaped errors — checked against what the upstream received.
final class ModelRoutedServeTests: XCTestCase {
    static let clientKey = "sk-foap-agents-0123456789"

    private func startFoap() async throws -> FoapProcess {
        let upstream = try self.startUpstream()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("foap-routes-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        self.addTeardownBlock { try? FileManager.default.removeItem(at: directory) }
        let keys = directory.appendingPathComponent("keys.json")
        try #"{"keys":[{"name":"agents","sha256":"\#(try ClientKeysServeTests.sha256Hex(Self.clientKey))","models":["*"]}]}"#
            .write(to: keys, atomically: true, encoding: .utf8)
        let models = """
            {"vllm": {"target_base_url": "\(upstream.baseURL)", "api_key_variable": "VLLM_KEY",
              "models": {"qwen": {"endpoints": [
                {"path": "v1/messages", "target_model_name": "Qwen/Qwen3"},
                {"path": "v1/rerank", "target_model_name": "bge", "target_path": "reranking"},
                {"path": "tokenize", "target_model_name": "Qwen/Qwen3", "default_for_route": true}]}}},
             "anthropic": {"target_base_url": "\(upstream.baseURL)", "api_key_variable": "ANTHROPIC_KEY",
              "auth_header": "x-api-key",
              "models": {"claude": {"endpoints": [{"path": "v1/messages", "target_model_name": "claude-up"}]}}}}
            """
        return try await self.startFoap(
            workers: 2, files: ["models.json": models],
            environment: [
                "FOAP_CLIENT_KEYS": keys.path, "VLLM_KEY": "sk-vllm-upstream", "ANTHROPIC_KEY": "sk-ant-upstream",
            ])
    }

    private static func post(_ baseURL: String, _ path: String, _ body: String, headers: [(String, String)]) async throws
        -> (status: UInt, body: [String: Any])
    {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(string: body))
        let response = try await ProxyClient.shared.client.execute(request, timeout: .seconds(10))
        let bytes = try await response.body.collect(upTo: 1 << 20)
        let object = (try? JSONSerialization.jsonObject(with: Data(String(buffer: bytes).utf8))) as? [String: Any]
        return (response.status.code, object ?? [:])
    }

    func testAnthropicAndPoolingRoutesThroughTheRealBinary() async throws {
        let foap = try await self.startFoap()
        let sdk = [("x-api-key", Self.clientKey), ("anthropic-version", "2023-06-01")]
        let claude = try await Self.post(
            foap.baseURL, "/v1/messages", #"{"model":"claude","max_tokens":16,"messages":[]}"#, headers: sdk)
        XCTAssertEqual(claude.status, 200)
        XCTAssertEqual(claude.body["path"] as? String, "/v1/messages")
        XCTAssertEqual(claude.body["x_api_key"] as? String, "sk-ant-upstream", "auth_header: x-api-key")
        XCTAssertEqual(claude.body["authorization"] as? String, "", "no bearer to the Anthropic upstream")
        XCTAssertEqual(claude.body["anthropic_version"] as? String, "2023-06-01")
        XCTAssertTrue((claude.body["body"] as? String ?? "").contains(#""model":"claude-up""#))

        let qwen = try await Self.post(foap.baseURL, "/v1/messages", #"{"model":"qwen","messages":[]}"#, headers: sdk)
        XCTAssertEqual(qwen.body["authorization"] as? String, "Bearer sk-vllm-upstream")
        XCTAssertEqual(qwen.body["x_api_key"] as? String, "", "the client's x-api-key is never forwarded")

        let bearer = [("Authorization", "Bearer \(Self.clientKey)")]
        let rerank = try await Self.post(foap.baseURL, "/v1/rerank", #"{"model":"qwen","query":"q"}"#, headers: bearer)
        XCTAssertEqual(rerank.body["path"] as? String, "/reranking")
        XCTAssertEqual(rerank.body["body"] as? String, #"{"model":"bge","query":"q"}"#)
        let tokenize = try await Self.post(foap.baseURL, "/tokenize", #"{"content":"hi"}"#, headers: bearer)
        XCTAssertEqual(tokenize.body["path"] as? String, "/tokenize")
        XCTAssertEqual(tokenize.body["body"] as? String, #"{"content":"hi"}"#)

        let unknown = try await Self.post(foap.baseURL, "/v1/messages", #"{"model":"nope"}"#, headers: sdk)
        XCTAssertEqual(unknown.status, 404)
        XCTAssertEqual(unknown.body["type"] as? String, "error")
        XCTAssertEqual((unknown.body["error"] as? [String: Any])?["type"] as? String, "not_found_error")
        let notServed = try await Self.post(foap.baseURL, "/v1/score", #"{"model":"qwen"}"#, headers: bearer)
        XCTAssertEqual(notServed.status, 404)
    }
}
