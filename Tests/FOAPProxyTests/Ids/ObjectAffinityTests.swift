import FOAPProxy
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import XCTest

/// Conversations, batches and stored chat completions in a pool of three upstreams that each keep only their own
/// objects, balanced round robin: every call by id reaches the box that made the object, which never sees a trailer.
final class ObjectAffinityTests: XCTestCase {
    /// One box: makes `conv_…`/`batch_…`/`file-…` objects, answers calls on its own ids and 404s anyone else's.
    final class Box: Sendable {
        struct State {
            var made: [String] = []
            var seen: [String] = []
            /// The upload bodies, by file id, exactly as they arrived.
            var files: [String: String] = [:]
        }

        let name: String
        private let state = NIOLockedValueBox(State())

        init(name: String) { self.name = name }

        var seen: [String] { self.state.withLockedValue { $0.seen } }

        func respond(_ request: MockUpstream.Request) -> MockUpstream.Response {
            let path = String(request.uri.prefix { $0 != "?" })
            let notFound = MockUpstream.Response.json(#"{"error":{"message":"no such object"}}"#, status: .notFound)
            if let files = self.respondForFiles(request, path: path) {
                return files
            }
            if request.method == .POST, let prefix = ["/v1/conversations": "conv_", "/v1/batches": "batch_", "/v1/uploads": "upload_"][path] {
                return self.state.withLockedValue { state in
                    let id = "\(prefix)\(self.name)\(state.made.count)"
                    state.made.append(id)
                    if let file = ObjectAffinityTests.field("input_file_id", request.bodyString) {
                        state.seen.append(file)
                    }
                    return .json(#"{"id":"\#(id)","box":"\#(self.name)","body":\#(request.bodyString)}"#)
                }
            }
            let parts = path.split(separator: "/")
            guard parts.count >= 3 else { return notFound }
            let id = String(parts[parts.count >= 4 && parts[1] == "chat" ? 3 : 2])
            return self.state.withLockedValue { state in
                state.seen.append(id)
                guard state.made.contains(id) || id.hasSuffix("-" + self.name) else { return notFound }
                if path.hasSuffix("/complete") {
                    return .json(#"{"id":"\#(id)","status":"completed","file":{"id":"file-\#(self.name)9"}}"#)
                }
                return .json(
                    #"{"id":"\#(id)","box":"\#(self.name)","call":"\#(request.method) \#(path)","bytes":\#(request.body.readableBytes)}"#)
            }
        }

        /// Uploads (kept byte for byte), the list, and each file's content; nil for other paths.
        private func respondForFiles(_ request: MockUpstream.Request, path: String) -> MockUpstream.Response? {
            guard path.hasPrefix("/v1/files") else { return nil }
            return self.state.withLockedValue { state -> MockUpstream.Response in
                if path == "/v1/files" {
                    guard request.method == .POST else {
                        let data = state.files.keys.sorted().map { #"{"id":"\#($0)","object":"file"}"# }
                        return .json(#"{"object":"list","box":"\#(self.name)","data":[\#(data.joined(separator: ","))]}"#)
                    }
                    let id = "file-\(self.name)\(state.made.count)"
                    state.made.append(id)
                    state.files[id] = request.bodyString
                    return .json(#"{"id":"\#(id)","object":"file","bytes":\#(request.body.readableBytes),"box":"\#(self.name)"}"#)
                }
                let parts = path.split(separator: "/")
                let id = String(parts[2])
                state.seen.append(id)
                guard let upload = state.files[id] else {
                    return .json(#"{"error":{"message":"no such file"}}"#, status: .notFound)
                }
                if parts.count == 4 {
                    return .full(status: .ok, headers: [("Content-Type", "application/octet-stream")], body: upload)
                }
                return .json(#"{"id":"\#(id)","object":"file","box":"\#(self.name)"}"#)
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
                        { "path": "v1/chat/completions", "target_model_name": "m", \(upstreams) },
                        { "path": "v1/files", "target_model_name": "m", "default_for_route": true, \(upstreams) },
                        { "path": "v1/uploads", "target_model_name": "m", \(upstreams) } ] } } } }
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

    fileprivate static func field(_ name: String, _ body: String) -> String? {
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
        XCTAssertEqual(put.headers.first(name: "allow"), "GET, POST, DELETE")
    }
    /// Files: uploads name no model (the route's default serves them) and stream untouched; the file, its content
    /// (byte for byte, no trailer) and a batch that uses it all reach the box that keeps the upload.
    func testFilesUploadDownloadListAndABatchThatUsesThemStayOnTheirBox() async throws {
        let (harness, boxes) = try await self.makePool()
        var uploads: [(id: String, box: String, body: String)] = []
        for index in 0..<3 {
            let content = String(repeating: #"{"custom_id":"r\#(index)","id":"file-a0"}"# + "\n", count: 5_000)
            let body = "--XyZ\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nbatch\r\n"
                + "--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"in.jsonl\"\r\n"
                + "Content-Type: application/jsonl\r\n\r\n\(content)\r\n--XyZ--\r\n"
            let made = try await harness.send(
                .POST, "/v1/files", body: ByteBuffer(string: body),
                headers: [("Content-Type", "multipart/form-data; boundary=XyZ")])
            XCTAssertEqual(made.status, 200, made.body)
            let id = try XCTUnwrap(Self.field("id", made.body))
            XCTAssertEqual(id.count, "file-a0".count + IDTrailer.length, id)
            uploads.append((id, try XCTUnwrap(Self.field("box", made.body)), body))
        }
        XCTAssertEqual(Set(uploads.map(\.box)), ["a", "b", "c"])
        for (id, box, body) in uploads {
            let retrieved = try await harness.send(.GET, "/v1/files/\(id)")
            XCTAssertEqual(retrieved.status, 200, retrieved.body)
            XCTAssertEqual(Self.field("box", retrieved.body), box)
            XCTAssertEqual(Self.field("id", retrieved.body), id)
            let content = try await harness.send(.GET, "/v1/files/\(id)/content")
            XCTAssertEqual(content.status, 200)
            XCTAssertTrue(content.body == body, "the upload went up and the content came back byte for byte")
            let batch = try await harness.send(
                .POST, "/v1/batches", json: #"{"input_file_id":"\#(id)","endpoint":"/v1/chat/completions"}"#,
                headers: [("X-Foap-Model", "pool")])
            XCTAssertEqual(batch.status, 200, batch.body)
            XCTAssertEqual(Self.field("box", batch.body), box, "the batch is made where its input file is")
            XCTAssertTrue(batch.body.contains(#""input_file_id":"\#(id)""#), "handed back as the client holds it")
        }
        let list = try await harness.send(.GET, "/v1/files?model=pool")
        XCTAssertEqual(list.status, 200, list.body)
        let listed = list.body.components(separatedBy: #""id":""#).dropFirst().map { $0.prefix { $0 != "\"" } }
        XCTAssertEqual(listed.count, 1, list.body)
        XCTAssertTrue(uploads.map(\.id).contains(String(listed[0])), "a listed id is the one its upload handed out")
        for (id, _, _) in uploads {
            let deleted = try await harness.send(.DELETE, "/v1/files/\(id)")
            XCTAssertEqual(deleted.status, 200, deleted.body)
        }
        let seen = boxes.flatMap(\.seen)
        XCTAssertEqual(seen.count, 3 * 4, "retrieve, content, the batch's input file, delete")
        XCTAssertTrue(seen.allSatisfy { $0.count == "file-a0".count }, "no box sees a trailer: \(seen)")
        let unnamed = try await harness.send(.GET, "/v1/batches")
        XCTAssertEqual(unnamed.status, 400, "no hint and no default_for_route: \(unnamed.body)")
        XCTAssertTrue(unnamed.body.contains("missing_model"), unnamed.body)
        let withModelPart = try await harness.send(
            .POST, "/v1/files",
            body: ByteBuffer(string: "--B\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nx\r\n--B--\r\n"),
            headers: [("Content-Type", "multipart/form-data; boundary=B")])
        XCTAssertEqual(withModelPart.status, 400, withModelPart.body)
    }
    /// Uploads in parts: made by a hint, each part streams untouched to the box that holds the upload, `complete`
    /// and `cancel` follow it, and the file `complete` hands out is tagged for that box.
    func testAnUploadsPartsAndCompletionReachTheBoxThatHoldsIt() async throws {
        let (harness, _) = try await self.makePool()
        for _ in 0..<3 {
            let made = try await harness.send(
                .POST, "/v1/uploads", json: #"{"filename":"in.jsonl","purpose":"batch","bytes":9,"mime_type":"text/jsonl"}"#,
                headers: [("X-Foap-Model", "pool")])
            XCTAssertEqual(made.status, 200, made.body)
            let id = try XCTUnwrap(Self.field("id", made.body))
            let box = try XCTUnwrap(Self.field("box", made.body))
            XCTAssertEqual(id.count, "upload_a0".count + IDTrailer.length, id)
            let part = "--P\r\nContent-Disposition: form-data; name=\"data\"; filename=\"blob\"\r\n\r\n"
                + String(repeating: "z", count: 100_000) + "\r\n--P--\r\n"
            let sent = try await harness.send(
                .POST, "/v1/uploads/\(id)/parts", body: ByteBuffer(string: part),
                headers: [("Content-Type", "multipart/form-data; boundary=P")])
            XCTAssertEqual(sent.status, 200, sent.body)
            XCTAssertEqual(Self.field("box", sent.body), box)
            XCTAssertTrue(sent.body.contains(#""bytes":\#(part.utf8.count)"#), "the part went up whole: \(sent.body)")
            let completed = try await harness.send(
                .POST, "/v1/uploads/\(id)/complete", json: #"{"part_ids":["part_1"]}"#)
            XCTAssertEqual(completed.status, 200, completed.body)
            XCTAssertEqual(Self.field("id", completed.body), id)
            let file = try XCTUnwrap(
                completed.body.components(separatedBy: #""file":{"id":""#).dropFirst().first?.prefix { $0 != "\"" })
            XCTAssertEqual(file.count, "file-a9".count + IDTrailer.length, "the file it hands out is tagged: \(file)")
            let cancelled = try await harness.send(.POST, "/v1/uploads/\(id)/cancel")
            XCTAssertEqual(cancelled.status, 200, cancelled.body)
            XCTAssertEqual(Self.field("box", cancelled.body), box)
        }
    }

    /// Conversations take bodies by id too: metadata updates and new items go to the conversation's box, less the
    /// trailers of the ids they bring; an id of another box in them is refused. One item, by its id, follows the
    /// conversation's.
    func testConversationUpdatesAndItemsCarryTheirBodiesToTheirBox() async throws {
        let (harness, boxes) = try await self.makePool()
        var made: [(id: String, box: String)] = []
        for _ in 0..<3 {
            let response = try await harness.send(.POST, "/v1/conversations", json: "{}")
            made.append((try XCTUnwrap(Self.field("id", response.body)), try XCTUnwrap(Self.field("box", response.body))))
        }
        for (id, box) in made {
            let body = #"{"metadata":{"topic":"y"}}"#
            let updated = try await harness.send(.POST, "/v1/conversations/\(id)", json: body)
            XCTAssertEqual(updated.status, 200, updated.body)
            XCTAssertEqual(Self.field("box", updated.body), box)
            XCTAssertTrue(updated.body.contains(#""bytes":\#(body.utf8.count)"#), updated.body)
            let items = try await harness.send(
                .POST, "/v1/conversations/\(id)/items",
                json: #"{"items":[{"type":"message","role":"user","content":"hi"}]}"#)
            XCTAssertEqual(items.status, 200, items.body)
            XCTAssertEqual(Self.field("call", items.body), "POST /v1/conversations/\(id.dropLast(IDTrailer.length))/items")
            for method in [HTTPMethod.GET, .DELETE] {
                let item = try await harness.send(method, "/v1/conversations/\(id)/items/msg_1")
                XCTAssertEqual(item.status, 200, item.body)
                XCTAssertEqual(Self.field("box", item.body), box)
                XCTAssertEqual(
                    Self.field("call", item.body), "\(method) /v1/conversations/\(id.dropLast(IDTrailer.length))/items/msg_1")
            }
        }
        let foreign = try await harness.send(
            .POST, "/v1/conversations/\(made[0].id)/items", json: #"{"items":[{"file_id":"\#(made[1].id)"}]}"#)
        XCTAssertEqual(foreign.status, 404, "an id of another box in the body: \(foreign.body)")
        XCTAssertTrue(foreign.body.contains("unknown_id"), foreign.body)
        XCTAssertTrue(boxes.flatMap(\.seen).allSatisfy { $0.count == "conv_a0".count })
    }

    /// What an operator's clients get wrong: an upload naming an unknown model, a broken JSON body on an object, a
    /// part for an upload id whose trailer was damaged. Each is a clear error and reaches no box.
    func testCallsByIDThatCannotBeServedAreClearErrorsAndReachNoBox() async throws {
        let (harness, boxes) = try await self.makePool()
        let part = "--P\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f\"\r\n\r\nx\r\n--P--\r\n"
        let multipart = [("Content-Type", "multipart/form-data; boundary=P")]
        let unknownModel = try await harness.send(
            .POST, "/v1/files?model=nope", body: ByteBuffer(string: part), headers: multipart)
        XCTAssertEqual(unknownModel.status, 404, unknownModel.body)
        XCTAssertTrue(unknownModel.body.contains("model_not_found"), unknownModel.body)
        let list = try await harness.send(.GET, "/v1/batches", headers: [("X-Foap-Model", "nope")])
        XCTAssertEqual(list.status, 404, list.body)

        let made = try await harness.send(.POST, "/v1/conversations", json: "{}")
        let conversation = try XCTUnwrap(Self.field("id", made.body))
        let broken = try await harness.send(.POST, "/v1/conversations/\(conversation)", json: #"{"metadata":"#)
        XCTAssertEqual(broken.status, 400, broken.body)

        let upload = try await harness.send(.POST, "/v1/uploads?model=pool", json: #"{"filename":"f","bytes":1}"#)
        var damaged = Array(try XCTUnwrap(Self.field("id", upload.body)).utf8)
        damaged[damaged.count - 1] = damaged.last == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        let forged = try await harness.send(
            .POST, "/v1/uploads/\(String(decoding: damaged, as: UTF8.self))/parts", body: ByteBuffer(string: part),
            headers: multipart)
        XCTAssertEqual(forged.status, 404, forged.body)
        XCTAssertTrue(forged.body.contains("unknown_id"), forged.body)
        XCTAssertTrue(boxes.flatMap(\.seen).isEmpty, "none of them reached a box: \(boxes.flatMap(\.seen))")
    }
}
