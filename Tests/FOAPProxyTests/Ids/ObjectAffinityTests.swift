import FOAPProxy
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import XCTest

/// Conversations, batches and stored chat completions in a pool of three upstreams that each keep only their own
/// objects, balanced round robin: every call by id reaches the box that made the object, which never sees a trailer.
final class ObjectAffinityTests: XCTestCase {
    /// One box: makes `conv_…`/`batch_…` objects, answers calls on its own ids and 404s anyone else's.
    final class Box: Sendable {
        let name: String
        private let state = NIOLockedValueBox<(made: [String], seen: [String])>(([], []))

        init(name: String) { self.name = name }

        var seen: [String] { self.state.withLockedValue { $0.seen } }

        func respond(_ request: MockUpstream.Request) -> MockUpstream.Response {
            let path = String(request.uri.prefix { $0 != "?" })
            let notFound = MockUpstream.Response.json(#"{"error":{"message":"no such object"}}"#, status: .notFound)
            if request.method == .POST, let prefix = ["/v1/conversations": "conv_", "/v1/batches": "batch_"][path] {
                return self.state.withLockedValue { state in
                    let id = "\(prefix)\(self.name)\(state.made.count)"
                    state.made.append(id)
                    return .json(#"{"id":"\#(id)","box":"\#(self.name)","body":\#(request.bodyString)}"#)
                }
            }
            let parts = path.split(separator: "/")
            guard parts.count >= 3 else { return notFound }
            let id = String(parts[parts.count >= 4 && parts[1] == "chat" ? 3 : 2])
            return self.state.withLockedValue { state in
                state.seen.append(id)
                guard state.made.contains(id) || id.hasSuffix("-" + self.name) else { return notFound }
                return .json(#"{"id":"\#(id)","box":"\#(self.name)","call":"\#(request.method) \#(path)"}"#)
            }
        }
    }

    private func makePool() async throws -> (ProxyHarness, [Box]) {
        let boxes = [Box(name: "a"), Box(name: "b"), Box(name: "c")]
        let second = try MockUpstream { boxes[1].respond($0) }
        let third = try MockUpstream { boxes[2].respond($0) }
        let harness = try await ProxyHarness(
            config: { first in
                let upstreams = """
                    "strategy": "round_robin", "upstreams": [{"target_base_url": "\(first)"},
                        {"target_base_url": "\(second.baseURL)"}, {"target_base_url": "\(third.baseURL)"}]
                    """
                return """
                    { "fleet": { "request_timeout": 5, "models": { "pool": { "endpoints": [
                        { "path": "v1/conversations", "target_model_name": "m", "default_for_route": true, \(upstreams) },
                        { "path": "v1/batches", "target_model_name": "m", \(upstreams) },
                        { "path": "v1/chat/completions", "target_model_name": "m", \(upstreams) } ] } } } }
                    """
            },
            configure: { $0.idSecret = Array("fleet-secret".utf8) }
        ) { boxes[0].respond($0) }
        self.addTeardownBlock {
            try await harness.stop()
            try? second.stop()
            try? third.stop()
        }
        return (harness, boxes)
    }

    private static func field(_ name: String, _ body: String) -> String? {
        ((try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any])?[name] as? String
    }

    /// Conversations are made without a `model` (the route's `default_for_route` model serves them), spread over
    /// the three boxes; retrieve, items and delete each reach the box that made the conversation.
    func testEveryConversationCallReachesTheBoxThatMadeIt() async throws {
        let (harness, boxes) = try await self.makePool()
        var made: [(id: String, box: String)] = []
        for _ in 0..<6 {
            let response = try await harness.send(.POST, "/v1/conversations", json: #"{"metadata":{"topic":"x"}}"#)
            XCTAssertEqual(response.status, 200, response.body)
            let id = try XCTUnwrap(Self.field("id", response.body))
            XCTAssertTrue(id.hasPrefix("conv_"), id)
            XCTAssertEqual(id.count, "conv_a0".count + IDTrailer.length, id)
            XCTAssertTrue(response.body.contains(#""body":{"metadata":{"topic":"x"}}"#), "the body passes unchanged")
            made.append((id, try XCTUnwrap(Self.field("box", response.body))))
        }
        XCTAssertEqual(Set(made.map(\.box)), ["a", "b", "c"], "round robin spread them")
        for (id, box) in made {
            for (method, suffix) in [(HTTPMethod.GET, ""), (.GET, "/items"), (.DELETE, "")] {
                let response = try await harness.send(method, "/v1/conversations/\(id)\(suffix)")
                XCTAssertEqual(response.status, 200, "\(method) \(suffix): \(response.body)")
                XCTAssertEqual(Self.field("box", response.body), box)
                XCTAssertEqual(Self.field("id", response.body), id, "the answer hands back the id the client holds")
            }
        }
        let seen = boxes.flatMap(\.seen)
        XCTAssertEqual(seen.count, 18)
        XCTAssertTrue(seen.allSatisfy { $0.count == "conv_a0".count }, "no box sees a trailer: \(seen)")
    }

    /// A batch body names no model: `X-Foap-Model` (or `?model=`) picks the model; retrieve and cancel follow the id.
    func testBatchesMadeByAHintAreRetrievedAndCancelledOnTheirBox() async throws {
        let (harness, _) = try await self.makePool()
        let body = #"{"input_file_id":"file-1","endpoint":"/v1/chat/completions","completion_window":"24h"}"#
        let missing = try await harness.send(.POST, "/v1/batches", json: body)
        XCTAssertEqual(missing.status, 400, "no model, no hint, no default: \(missing.body)")
        for round in 0..<3 {
            let made = try await harness.send(
                .POST, round == 0 ? "/v1/batches?model=pool" : "/v1/batches", json: body,
                headers: round == 0 ? [] : [("X-Foap-Model", "pool")])
            XCTAssertEqual(made.status, 200, made.body)
            let id = try XCTUnwrap(Self.field("id", made.body))
            let box = try XCTUnwrap(Self.field("box", made.body))
            let retrieved = try await harness.send(.GET, "/v1/batches/\(id)")
            XCTAssertEqual(retrieved.status, 200, retrieved.body)
            XCTAssertEqual(Self.field("box", retrieved.body), box)
            XCTAssertEqual(Self.field("id", retrieved.body), id)
            let cancelled = try await harness.send(.POST, "/v1/batches/\(id)/cancel")
            XCTAssertEqual(cancelled.status, 200, cancelled.body)
            XCTAssertEqual(Self.field("call", cancelled.body), "POST /v1/batches/\(id.dropLast(IDTrailer.length))/cancel")
            let deleted = try await harness.send(.DELETE, "/v1/batches/\(id)")
            XCTAssertEqual(deleted.status, 405, "batches are not deleted")
            XCTAssertEqual(deleted.headers.first(name: "allow"), "GET")
        }
    }

    /// Stored chat completion ids leave foap as the upstream made them, so calls by id name their model; the answer
    /// is passed unchanged (no trailer the client never got).
    func testStoredChatCompletionsAreRoutedByTheirHint() async throws {
        let (harness, boxes) = try await self.makePool()
        var answeredBy: Set<String> = []
        for box in boxes {
            // The box that stored it answers; round robin reaches each box once in three calls.
            for _ in 0..<3 {
                let response = try await harness.send(.GET, "/v1/chat/completions/chatcmpl-\(box.name)?model=pool")
                if response.status == 200 {
                    XCTAssertEqual(Self.field("id", response.body), "chatcmpl-\(box.name)", "passed unchanged")
                    answeredBy.insert(try XCTUnwrap(Self.field("box", response.body)))
                } else {
                    XCTAssertEqual(response.status, 404, "the other boxes' own 404, not a failover")
                }
            }
        }
        XCTAssertEqual(answeredBy, ["a", "b", "c"])
        let messages = try await harness.send(
            .GET, "/v1/chat/completions/chatcmpl-a/messages", headers: [("X-Foap-Model", "pool")])
        XCTAssertTrue([200, 404].contains(messages.status), messages.body)
        let unnamed = try await harness.send(.GET, "/v1/chat/completions/chatcmpl-a")
        XCTAssertEqual(unnamed.status, 404)
        XCTAssertTrue(unnamed.body.contains("unknown_id"), unnamed.body)
        let put = try await harness.send(.PUT, "/v1/chat/completions/chatcmpl-a")
        XCTAssertEqual(put.status, 405)
        XCTAssertEqual(put.headers.first(name: "allow"), "GET, DELETE")
    }
}
