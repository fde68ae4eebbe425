import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import XCTest

/// Responses follow-ups through the real binary: two workers, no `FOAP_ID_SECRET` (the master makes one and hands
/// it to its workers), a pool of three upstreams that each keep only their own responses, every request on its own
/// connection (so the kernel spreads them over both workers), and a reload in the middle of the chain.
final class ResponseAffinityServeTests: XCTestCase {
    private static func models(_ upstreams: [StreamingUpstream], extra: String = "") -> String {
        let list = upstreams.map { #"{"target_base_url": "\#($0.baseURL)"}"# }.joined(separator: ", ")
        return """
            { "fleet": { "request_timeout": 10, "models": {\(extra) "pool": { "endpoints": [ {
                "path": "v1/responses", "target_model_name": "m", "strategy": "round_robin",
                "upstreams": [\(list)] } ] } } } }
            """
    }

    /// A model added by the reload: the chain goes on across it.
    private static func otherModel(_ upstream: StreamingUpstream) -> String {
        #" "other": {"endpoints": [{"path": "v1/responses", "target_model_name": "o", "#
            + #""upstreams": [{"target_base_url": "\#(upstream.baseURL)"}]}]},"#
    }

    private static func send(_ foap: FoapProcess, _ method: HTTPMethod, _ path: String, body: String? = nil)
        async throws -> (status: UInt, id: String?, port: Int?)
    {
        var request = HTTPClientRequest(url: foap.baseURL + path)
        request.method = method
        request.headers.add(name: "Connection", value: "close")
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: body))
        }
        let response = try await ProxyClient.shared.client.execute(request, timeout: .seconds(10))
        let bytes = try await response.body.collect(upTo: 1 << 20)
        let object = (try? JSONSerialization.jsonObject(with: Data(String(buffer: bytes).utf8))) as? [String: Any]
        return (response.status.code, object?["id"] as? String, object?["port"] as? Int)
    }

    func testAChainOfFollowUpsSurvivesWorkersAndAReload() async throws {
        let upstreams = try (0..<3).map { _ in try self.startUpstream() }
        let foap = try await self.startFoap(
            workers: 2, files: ["models.json": Self.models(upstreams)], environment: ["FOAP_ID_SECRET": nil])
        var previous: String?
        var made: [(id: String, port: Int)] = []
        for turn in 0..<16 {
            if turn == 8 {
                try EndToEndConfig.writeByRename(
                    Self.models(upstreams, extra: Self.otherModel(upstreams[0])), to: foap.configFile("models.json"))
                try await foap.waitFor("reload done for generation 2", timeout: .seconds(20)) {
                    !foap.log.records("reload done", where: ["generation": "2"]).isEmpty
                }
            }
            let body = previous.map { #"{"model":"pool","input":"hi","previous_response_id":"\#($0)"}"# }
                ?? #"{"model":"pool","input":"hi"}"#
            let response = try await Self.send(foap, .POST, "/v1/responses", body: body)
            XCTAssertEqual(response.status, 200, "turn \(turn)")
            let id = try XCTUnwrap(response.id)
            made.append((id, try XCTUnwrap(response.port)))
            previous = id
        }
        XCTAssertEqual(Set(made.map(\.port)).count, 1, "a chain stays on the box that made its first response")
        for (id, port) in made {
            let retrieved = try await Self.send(foap, .GET, "/v1/responses/\(id)")
            XCTAssertEqual(retrieved.status, 200)
            XCTAssertEqual(retrieved.id, id, "a retrieve returns the id the client holds")
            XCTAssertEqual(retrieved.port, port)
        }
        let fresh = try await Self.send(foap, .POST, "/v1/responses", body: #"{"model":"pool","input":"x"}"#)
        XCTAssertEqual(fresh.status, 200, "a new conversation is still balanced")
    }
}
