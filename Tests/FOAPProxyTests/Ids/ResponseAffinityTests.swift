import FOAPProxy
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import XCTest

/// Responses follow-ups in a pool: three upstreams that each keep only their own stored responses (as vLLM does),
/// balanced round robin. Without routing by id two follow-ups in three would fail; with the trailer every turn and
/// every retrieve goes back to the box that made the id, and the upstream never sees a trailer.
final class ResponseAffinityTests: XCTestCase {
    /// One box: remembers the ids it made; a follow-up or retrieve of another box's id is its 404.
    final class Box: Sendable {
        let name: String
        private let state = NIOLockedValueBox<(made: [String], seen: [String])>(([], []))

        init(name: String) { self.name = name }

        var seen: [String] { self.state.withLockedValue { $0.seen } }

        func respond(_ request: MockUpstream.Request) -> MockUpstream.Response {
            let notFound = MockUpstream.Response.json(#"{"error":{"message":"no such response"}}"#, status: .notFound)
            if request.method == .POST, request.uri == "/v1/responses" {
                let object = (try? JSONSerialization.jsonObject(with: Data(request.bodyString.utf8))) as? [String: Any]
                let previous = object?["previous_response_id"] as? String
                return self.state.withLockedValue { state -> MockUpstream.Response in
                    if let previous {
                        state.seen.append(previous)
                        guard state.made.contains(previous) else { return notFound }
                    }
                    let id = "resp_\(self.name)\(String(format: "%040d", state.made.count))"
                    state.made.append(id)
                    if object?["stream"] as? Bool == true {
                        return .sse(
                            [
                                #"{"type":"response.created","response":{"id":"\#(id)","status":"in_progress"}}"#,
                                #"{"type":"response.output_item.added","item":{"id":"msg_1"}}"#,
                                #"{"type":"response.completed","response":{"id":"\#(id)","status":"completed"}}"#,
                            ], interval: .milliseconds(1))
                    }
                    return .json(#"{"id":"\#(id)","object":"response","output":[{"id":"msg_1","type":"message"}]}"#)
                }
            }
            let parts = request.uri.split(separator: "/")
            guard parts.count >= 3, parts[0] == "v1", parts[1] == "responses" else { return notFound }
            let id = String(parts[2])
            return self.state.withLockedValue { state -> MockUpstream.Response in
                state.seen.append(id)
                guard state.made.contains(id) else { return notFound }
                return .json(#"{"id":"\#(id)","object":"response","box":"\#(self.name)"}"#)
            }
        }
    }

    private func makePool(secret: Bool = true) async throws -> (ProxyHarness, [Box]) {
        let boxes = [Box(name: "a"), Box(name: "b"), Box(name: "c")]
        let second = try MockUpstream { boxes[1].respond($0) }
        let third = try MockUpstream { boxes[2].respond($0) }
        let harness = try await ProxyHarness(
            config: { first in
                """
                { "fleet": { "request_timeout": 5, "models": { "pool": { "endpoints": [ {
                    "path": "v1/responses", "target_model_name": "m", "strategy": "round_robin",
                    "upstreams": [{"target_base_url": "\(first)"}, {"target_base_url": "\(second.baseURL)"},
                                  {"target_base_url": "\(third.baseURL)"}] } ] } } } }
                """
            },
            configure: { if secret { $0.idSecret = Array("fleet-secret".utf8) } }
        ) { boxes[0].respond($0) }
        self.addTeardownBlock {
            try await harness.stop()
            try? second.stop()
            try? third.stop()
        }
        return (harness, boxes)
    }

    private static func id(_ body: String) -> String? {
        ((try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any])?["id"] as? String
    }

    func testThirtyTurnsOfPreviousResponseIDAllReachTheBoxThatMadeThem() async throws {
        let (harness, boxes) = try await self.makePool()
        var previous: String?
        for turn in 0..<30 {
            let body = previous.map { #"{"model":"pool","input":"hi","previous_response_id":"\#($0)"}"# }
                ?? #"{"model":"pool","input":"hi"}"#
            let response = try await harness.send(.POST, "/v1/responses", json: body)
            XCTAssertEqual(response.status, 200, "turn \(turn): \(response.body)")
            let id = try XCTUnwrap(Self.id(response.body))
            XCTAssertTrue(id.hasPrefix("resp_") && id.count == 5 + 41 + IDTrailer.length, id)
            XCTAssertLessThanOrEqual(id.count, 64)
            XCTAssertTrue(response.body.contains(#""id":"msg_1""#), "item ids are left alone")
            previous = id
        }
        let seen = boxes.flatMap(\.seen)
        XCTAssertEqual(seen.count, 29)
        XCTAssertTrue(seen.allSatisfy { $0.count == 5 + 41 }, "the upstream never sees a trailer: \(seen)")
    }

    func testRetrieveDeleteCancelAndInputItemsGoToTheBoxThatMadeTheID() async throws {
        let (harness, boxes) = try await self.makePool()
        var ids: [String] = []
        for _ in 0..<3 {
            let response = try await harness.send(.POST, "/v1/responses", json: #"{"model":"pool","input":"x"}"#)
            ids.append(try XCTUnwrap(Self.id(response.body)))
        }
        for (index, id) in ids.enumerated() {
            let retrieved = try await harness.send(.GET, "/v1/responses/\(id)")
            XCTAssertEqual(retrieved.status, 200, retrieved.body)
            XCTAssertEqual(Self.id(retrieved.body), id, "a retrieve returns exactly the id the client holds")
            XCTAssertTrue(retrieved.body.contains(#""box":"\#(boxes[index].name)""#), retrieved.body)
            for (method, suffix) in [(HTTPMethod.POST, "/cancel"), (.GET, "/input_items"), (.DELETE, "")] {
                let response = try await harness.send(method, "/v1/responses/\(id)\(suffix)")
                XCTAssertEqual(response.status, 200, "\(method) \(suffix): \(response.body)")
            }
        }
    }

    func testADamagedTrailerIsA404AndNeverReachesAnUpstream() async throws {
        let (harness, boxes) = try await self.makePool()
        let made = try await harness.send(.POST, "/v1/responses", json: #"{"model":"pool","input":"x"}"#)
        var id = Array(try XCTUnwrap(Self.id(made.body)).utf8)
        id[id.count - 1] = id.last == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        let damaged = String(decoding: id, as: UTF8.self)
        let retrieve = try await harness.send(.GET, "/v1/responses/\(damaged)")
        XCTAssertEqual(retrieve.status, 404)
        XCTAssertTrue(retrieve.body.contains("unknown_id"), retrieve.body)
        let followUp = try await harness.send(
            .POST, "/v1/responses", json: #"{"model":"pool","previous_response_id":"\#(damaged)"}"#)
        XCTAssertEqual(followUp.status, 404)
        XCTAssertTrue(boxes.flatMap(\.seen).isEmpty)
    }

    /// The ids inside a Responses stream's events get the trailer too, so a follow-up to a streamed response also
    /// finds its box.
    func testStreamedResponsesHandOutTaggedIDsAndTheirFollowUpsFindTheirBox() async throws {
        let (harness, boxes) = try await self.makePool()
        var previous: String?
        for turn in 0..<6 {
            let body = previous.map { #"{"model":"pool","stream":true,"previous_response_id":"\#($0)"}"# }
                ?? #"{"model":"pool","stream":true}"#
            let response = try await harness.send(.POST, "/v1/responses", json: body)
            XCTAssertEqual(response.status, 200, "turn \(turn): \(response.body)")
            let ids = response.body.components(separatedBy: #""id":""#).dropFirst().map { $0.prefix { $0 != "\"" } }
            XCTAssertEqual(ids.count, 3, response.body)
            XCTAssertEqual(ids[1], "msg_1", "item ids are left alone")
            XCTAssertEqual(ids[0], ids[2])
            XCTAssertEqual(ids[0].count, 5 + 41 + IDTrailer.length, String(ids[0]))
            previous = String(ids[0])
        }
        XCTAssertTrue(boxes.flatMap(\.seen).allSatisfy { $0.count == 5 + 41 })
    }

    /// The box that made an id is down: the follow-up is not sent to another box (the state is not there) but
    /// answered 503 `pinned_upstream_unavailable` with `x-should-retry: true`.
    func testAFollowUpWhoseBoxIsDownIsA503NotAFailover() async throws {
        let boxes = [Box(name: "a"), Box(name: "b")]
        let second = try MockUpstream { boxes[1].respond($0) }
        let harness = try await ProxyHarness(
            config: { first in
                """
                { "fleet": { "request_timeout": 5, "models": { "pool": { "endpoints": [ {
                    "path": "v1/responses", "target_model_name": "m", "strategy": "ordered",
                    "upstreams": [{"target_base_url": "\(first)"}, {"target_base_url": "\(second.baseURL)"}] } ] } } } }
                """
            },
            configure: { $0.idSecret = Array("fleet-secret".utf8) }
        ) { boxes[0].respond($0) }
        self.addTeardownBlock {
            try await harness.stop()
            try? second.stop()
        }
        let made = try await harness.send(.POST, "/v1/responses", json: #"{"model":"pool","input":"x"}"#)
        let id = try XCTUnwrap(Self.id(made.body))
        XCTAssertTrue(id.hasPrefix("resp_a"))
        try harness.upstream.stop()
        let followUp = try await harness.send(
            .POST, "/v1/responses", json: #"{"model":"pool","previous_response_id":"\#(id)"}"#)
        XCTAssertEqual(followUp.status, 503, followUp.body)
        XCTAssertTrue(followUp.body.contains("pinned_upstream_unavailable"), followUp.body)
        XCTAssertEqual(followUp.headers.first(name: "x-should-retry"), "true")
        XCTAssertTrue(boxes[1].seen.isEmpty, "never sent to another box")
    }

    /// Without a secret nothing changes: ids pass as the upstream made them.
    func testWithoutASecretIDsPassUnchanged() async throws {
        let (harness, _) = try await self.makePool(secret: false)
        let made = try await harness.send(.POST, "/v1/responses", json: #"{"model":"pool","input":"x"}"#)
        XCTAssertEqual(Self.id(made.body)?.count, 5 + 41)
    }
}
