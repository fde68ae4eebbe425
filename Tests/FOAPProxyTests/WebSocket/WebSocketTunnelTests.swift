import FOAPConfig
import FOAPProxy
import Foundation
import NIOCore
import WebSocketTestSupport
import XCTest

/// WebSocket routes through a real proxy to a real WebSocket server. `GET /v1/realtime?model=…`: the handshake
/// reaches the model's upstream with its model name and key, frames pass untouched both ways, and either side's
/// close ends both. `GET /v1/responses` upgraded: the first message picks the upstream and goes up rewritten.
final class WebSocketTunnelTests: XCTestCase {
    static let clientKey = "sk-foap-realtime-0123456789"

    private func makeHarness(
        upstreamURL: String? = nil, upstreamKey: String = "sk-upstream-secret", clientKeys: Bool = false,
        idSecret: [UInt8]? = nil
    ) async throws -> (ProxyHarness, WebSocketUpstream) {
        let socketServer = try WebSocketUpstream()
        let base = upstreamURL ?? socketServer.baseURL
        var environment = ["MOCK_KEY": upstreamKey]
        let keyFile = FileManager.default.temporaryDirectory.appendingPathComponent("foap-keys-\(UUID()).json")
        if clientKeys {
            let file = keyFile
            let digest = ClientKeyDigest(hashing: Self.clientKey.utf8).hex
            try #"{"keys": [{"name": "voice", "sha256": "\#(digest)", "models": ["rt-*"]}]}"#
                .write(to: file, atomically: true, encoding: .utf8)
            environment["FOAP_CLIENT_KEYS"] = file.path
        }
        let harness = try await ProxyHarness(
            config: { _ in
                """
                { "mock": { "api_key_variable": "MOCK_KEY", "prefix": "", "target_base_url": "\(base)",
                    "request_timeout": 5,
                    "models": {
                      "rt-test": { "endpoints": [{ "path": "v1/realtime", "target_model_name": "gpt-realtime-up" }] },
                      "resp-test": { "endpoints": [{ "path": "v1/responses", "target_model_name": "resp-up" }] },
                      "chat-only": { "endpoints": [{ "path": "v1/chat/completions", "target_model_name": "c" }] } } } }
                """
            }, environment: environment, configure: { $0.idSecret = idSecret }
        ) { _ in .json("{}") }
        self.addTeardownBlock {
            try await harness.stop()
            try socketServer.stop()
            try? FileManager.default.removeItem(at: keyFile)
        }
        return (harness, socketServer)
    }

    func testFramesPassBothWaysWithTheUpstreamsModelNameAndKey() async throws {
        let (harness, upstream) = try await self.makeHarness()
        let (socket, response) = try await WebSocketTestClient.open(
            port: harness.port, path: "/v1/realtime?model=rt-test&intent=demo&api-key=leak",
            headers: [
                ("Authorization", "Bearer sk-client-never-forwarded"), ("OpenAI-Beta", "realtime=v1"),
                ("Sec-WebSocket-Protocol", "realtime, openai-insecure-api-key.sk-client-too"),
            ], test: self)
        XCTAssertEqual(response.status, 101)
        // RFC 6455's sample key: the upstream's accept value for the client's own key reaches the client.
        XCTAssertEqual(response.header("sec-websocket-accept"), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
        XCTAssertEqual(response.header("sec-websocket-protocol"), "realtime")

        // Sent by the upstream in the same write as its 101.
        let greeting = try await socket.readFrame()
        XCTAssertEqual(greeting.text, #"{"type":"session.created","model":"gpt-realtime-up"}"#)
        try await socket.send(text: "hello")
        let echo = try await socket.readFrame()
        XCTAssertEqual(echo, .init(opcode: 0x1, payload: Array("echo:hello".utf8)))
        let large = (0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        try await socket.send(binary: large)
        let echoed = try await socket.readFrame()
        XCTAssertEqual(echoed.opcode, 0x2)
        XCTAssertEqual(echoed.payload.count, 5 + large.count)
        XCTAssertTrue(echoed.payload == Array("echo:".utf8) + large, "the binary frame came back changed")

        let handshake = try XCTUnwrap(upstream.seen.handshakes.first)
        XCTAssertEqual(handshake.uri, "/v1/realtime?model=gpt-realtime-up&intent=demo")
        XCTAssertEqual(handshake.headers["authorization"], ["Bearer sk-upstream-secret"])
        XCTAssertEqual(handshake.headers["openai-beta"], ["realtime=v1"])
        XCTAssertEqual(handshake.headers["sec-websocket-protocol"], ["realtime"])
        XCTAssertEqual(handshake.headers["host"], ["127.0.0.1:\(upstream.port)"])

        // The client's close goes up, the upstream's answer comes back, and both connections end.
        try await socket.sendClose()
        let closeFrame = try await socket.readFrame()
        XCTAssertEqual(closeFrame.opcode, 0x8)
        let closed = try await socket.waitUntilClosed()
        XCTAssertTrue(closed)
        try await self.waitFor { harness.accessRecords.count == 1 }
        let record = try XCTUnwrap(harness.accessRecords.first)
        XCTAssertEqual(record["status"], "101")
        XCTAssertEqual(record["route"], "v1/realtime")
        XCTAssertEqual(record["target_model"], "gpt-realtime-up")
        XCTAssertGreaterThan(Int(record["bytes_in"]?.description ?? "") ?? 0, 200_000)
        XCTAssertGreaterThan(Int(record["bytes_out"]?.description ?? "") ?? 0, 200_000)
        let metrics = try XCTUnwrap(harness.engine.metrics.render())
        XCTAssertTrue(metrics.contains("foap_websockets_open 0"), metrics)
        XCTAssertTrue(metrics.contains(#"foap_websocket_bytes_total{direction="client_to_upstream"} 2000"#), metrics)
    }

    func testAClientThatLeavesClosesTheUpstreamSocket() async throws {
        let (harness, upstream) = try await self.makeHarness()
        let (socket, response) = try await WebSocketTestClient.open(
            port: harness.port, path: "/v1/realtime?model=rt-test", headers: [], test: self)
        XCTAssertEqual(response.status, 101)
        _ = try await socket.readFrame()
        XCTAssertTrue(harness.engine.metrics.render()?.contains("foap_websockets_open 1") ?? false)
        await socket.close()
        try await self.waitFor { upstream.seen.closedSockets == 1 }
        try await self.waitFor { harness.accessRecords.count == 1 }
        XCTAssertTrue(harness.engine.metrics.render()?.contains("foap_websockets_open 0") ?? false)
    }

    /// A reload drains the old worker: an open socket is not cut, it keeps carrying frames, and the drain ends
    /// when the socket does (the worker's drain deadline bounds it).
    func testADrainLetsAnOpenSocketFinish() async throws {
        let (harness, _) = try await self.makeHarness()
        let (socket, response) = try await WebSocketTestClient.open(
            port: harness.port, path: "/v1/realtime?model=rt-test", headers: [], test: self)
        XCTAssertEqual(response.status, 101)
        _ = try await socket.readFrame()
        let drained = ManagedAtomicFlag()
        let drain = Task {
            await harness.server.drain()
            drained.set()
        }
        try await Task.sleep(nanoseconds: 200_000_000)
        try await socket.send(text: "still there")
        let echo = try await socket.readFrame()
        XCTAssertEqual(echo.text, "echo:still there")
        XCTAssertFalse(drained.isSet, "the drain ended while a socket was open")
        await socket.close()
        await drain.value
        XCTAssertTrue(drained.isSet)
    }

    func testTheUpstreamsRefusalReachesTheClientAndTheConnectionCloses() async throws {
        let (harness, _) = try await self.makeHarness(upstreamKey: "bad")
        let (socket, response) = try await WebSocketTestClient.open(
            port: harness.port, path: "/v1/realtime?model=rt-test", headers: [], test: self)
        XCTAssertEqual(response.status, 401)
        XCTAssertEqual(response.header("connection"), "close")
        let closed = try await socket.waitUntilClosed()
        XCTAssertTrue(closed)
    }

    func testRequestsThatCannotBecomeATunnelGetClearErrors() async throws {
        let (harness, upstream) = try await self.makeHarness()
        let plain = try await harness.send(.GET, "/v1/realtime?model=rt-test")
        XCTAssertEqual(plain.status, 426)
        XCTAssertEqual(plain.headers["upgrade"], ["websocket"])
        XCTAssertTrue(plain.body.contains("websocket_upgrade_required"), plain.body)
        let post = try await harness.send(.POST, "/v1/realtime", json: #"{"model":"rt-test"}"#)
        XCTAssertEqual(post.status, 405)

        let cases: [(String, UInt)] = [
            ("/v1/realtime", 400), ("/v1/realtime?model=nope", 404), ("/v1/realtime?model=chat-only", 404),
        ]
        for (path, status) in cases {
            let (socket, response) = try await WebSocketTestClient.open(
            port: harness.port, path: path, headers: [], test: self)
            XCTAssertEqual(response.status, status, path)
            XCTAssertEqual(response.header("connection"), "close", path)
            let closed = try await socket.waitUntilClosed()
            XCTAssertTrue(closed, path)
        }
        XCTAssertTrue(upstream.seen.handshakes.isEmpty)
    }

    func testADeadUpstreamIsA502() async throws {
        let (harness, _) = try await self.makeHarness(upstreamURL: "http://127.0.0.1:1")
        let (_, response) = try await WebSocketTestClient.open(
            port: harness.port, path: "/v1/realtime?model=rt-test", headers: [], test: self)
        XCTAssertEqual(response.status, 502)
        XCTAssertEqual(response.header("connection"), "close")
        let record = try await harness.accessRecords(atLeast: 1)[0]
        XCTAssertEqual(record["status"], "502")
        XCTAssertEqual(record["attempt_errors"], "http://127.0.0.1:1 upstream_unreachable")
    }

    func testWithClientKeysTheKeyMayComeAsAProtocolToken() async throws {
        let (harness, upstream) = try await self.makeHarness(clientKeys: true)
        let (_, missing) = try await WebSocketTestClient.open(
            port: harness.port, path: "/v1/realtime?model=rt-test", headers: [], test: self)
        XCTAssertEqual(missing.status, 401)
        let (socket, response) = try await WebSocketTestClient.open(
            port: harness.port, path: "/v1/realtime?model=rt-test",
            headers: [("Sec-WebSocket-Protocol", "openai-insecure-api-key.\(Self.clientKey)")], test: self)
        XCTAssertEqual(response.status, 101)
        _ = try await socket.readFrame()
        let handshake = try XCTUnwrap(upstream.seen.handshakes.last)
        XCTAssertEqual(handshake.headers["sec-websocket-protocol"], [])
        XCTAssertEqual(handshake.headers["authorization"], ["Bearer sk-upstream-secret"])
        await socket.close()
    }

    /// Set once, read from another task.
    private final class ManagedAtomicFlag: @unchecked Sendable {
        private let lock = NSLock()
        private var value = false
        var isSet: Bool { self.lock.withLock { self.value } }
        func set() { self.lock.withLock { self.value = true } }
    }

    // MARK: The Responses API's WebSocket mode

    func testAResponsesSocketGoesWhereItsFirstMessageSays() async throws {
        let (harness, upstream) = try await self.makeHarness()
        let (socket, response) = try await WebSocketTestClient.open(
            port: harness.port, path: "/v1/responses",
            headers: [("Authorization", "Bearer sk-client"), ("Sec-WebSocket-Extensions", "permessage-deflate")],
            test: self)
        XCTAssertEqual(response.status, 101)
        XCTAssertEqual(response.header("sec-websocket-accept"), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
        XCTAssertNil(response.header("sec-websocket-extensions"))
        XCTAssertTrue(upstream.seen.handshakes.isEmpty, "no upstream before the first message")

        // The second message follows at once: whether it is held while the upstream is reached or arrives after,
        // it goes up after the first, with its model rewritten too.
        try await socket.send(text: #"{"type":"response.create","model":"resp-test","input":"hi"}"#)
        try await socket.send(text: #"{"type":"response.create","model":"resp-test","previous_response_id":"resp_1"}"#)
        let greeting = try await socket.readFrame()
        XCTAssertEqual(greeting.text, #"{"type":"session.created","model":"-"}"#)
        let first = try await socket.readFrame()
        XCTAssertEqual(first.text, #"echo:{"type":"response.create","model":"resp-up","input":"hi"}"#)
        let second = try await socket.readFrame()
        XCTAssertEqual(second.text, #"echo:{"type":"response.create","model":"resp-up","previous_response_id":"resp_1"}"#)
        // Large messages pass byte for byte (only the model value changes); the upstream's own name for it passes.
        let input = String(repeating: "x", count: 100_000)
        try await socket.send(text: #"{"type":"response.create","model":"resp-test","input":"\#(input)"}"#)
        let large = try await socket.readFrame()
        XCTAssertEqual(large.text, #"echo:{"type":"response.create","model":"resp-up","input":"\#(input)"}"#)
        try await socket.send(text: #"{"type":"response.create","model":"resp-up"}"#)
        let upstreamName = try await socket.readFrame()
        XCTAssertEqual(upstreamName.text, #"echo:{"type":"response.create","model":"resp-up"}"#)
        // Another model's name never goes up (the key was checked for this one): an error event, then a close.
        try await socket.send(text: #"{"type":"response.create","model":"other"}"#)
        let refused = try await socket.readFrame()
        XCTAssertTrue(refused.text.hasPrefix(#"{"type":"error","status":400,"#), refused.text)
        XCTAssertTrue(refused.text.contains(#""code":"invalid_model""#), refused.text)
        let close = try await socket.readFrame()
        XCTAssertEqual(close.opcode, 0x8)
        XCTAssertEqual(Array(close.payload.prefix(2)), [0x03, 0xF0])  // 1008
        XCTAssertFalse(upstream.seen.frames.contains { $0.contains(#""model":"other""#) })

        let handshake = try XCTUnwrap(upstream.seen.handshakes.first)
        XCTAssertEqual(handshake.uri, "/v1/responses")
        XCTAssertEqual(handshake.headers["authorization"], ["Bearer sk-upstream-secret"])
        XCTAssertNotEqual(handshake.headers["sec-websocket-key"], ["dGhlIHNhbXBsZSBub25jZQ=="])
        XCTAssertEqual(handshake.headers["sec-websocket-extensions"], [])
        await socket.close()
        try await self.waitFor { harness.accessRecords.count == 1 }
        let record = try XCTUnwrap(harness.accessRecords.first)
        XCTAssertEqual(record["route"], "v1/responses (websocket)")
        XCTAssertEqual(record["model"], "resp-test")
        XCTAssertEqual(record["target_model"], "resp-up")
        XCTAssertEqual(record["error"], "invalid_model")
    }

    /// With `FOAP_ID_SECRET`, ids handed out over the socket carry the upstream's trailer, and come back without it.
    func testIdsOnAResponsesSocketAreTaggedOutAndStrippedIn() async throws {
        let (harness, upstream) = try await self.makeHarness(idSecret: Array("a shared secret for the ids".utf8))
        let (socket, response) = try await WebSocketTestClient.open(
            port: harness.port, path: "/v1/responses", headers: [], test: self)
        XCTAssertEqual(response.status, 101)
        try await socket.send(text: #"{"type":"response.create","model":"resp-test","input":"emit_id"}"#)
        _ = try await socket.readFrame()  // the mock's greeting
        let created = try await socket.readFrame()
        let id = try XCTUnwrap(created.text.split(separator: "\"").first { $0.hasPrefix("resp_ws1") })
        XCTAssertEqual(id.count, "resp_ws1".count + 10, created.text)
        try await socket.send(text: #"{"type":"response.create","model":"resp-test","previous_response_id":"\#(id)"}"#)
        let echo = try await socket.readFrame()
        XCTAssertEqual(echo.text, #"echo:{"type":"response.create","model":"resp-up","previous_response_id":"resp_ws1"}"#)
        XCTAssertEqual(upstream.seen.frames.last, #"{"type":"response.create","model":"resp-up","previous_response_id":"resp_ws1"}"#)
        await socket.close()
    }

    func testAResponsesSocketThatCannotBeRoutedGetsAnErrorEventAndAClose() async throws {
        let (harness, upstream) = try await self.makeHarness()
        let cases: [(String, String)] = [
            (#"{"type":"response.create","model":"nope"}"#, "model_not_found"),
            (#"{"type":"response.create","model":"rt-test"}"#, "unsupported_route_for_model"),
            (#"{"type":"response.cancel"}"#, "invalid_json"),
            (#"{"type":"response.create"}"#, "missing_model"),
        ]
        for (message, code) in cases {
            let (socket, response) = try await WebSocketTestClient.open(
                port: harness.port, path: "/v1/responses", headers: [], test: self)
            XCTAssertEqual(response.status, 101)
            try await socket.send(text: message)
            let event = try await socket.readFrame()
            XCTAssertEqual(event.opcode, 0x1, message)
            XCTAssertTrue(event.text.hasPrefix(#"{"type":"error","status":"#), event.text)
            XCTAssertTrue(event.text.contains(#""code":"\#(code)""#), event.text)
            let close = try await socket.readFrame()
            XCTAssertEqual(close.opcode, 0x8, message)
            XCTAssertEqual(Array(close.payload.prefix(2)), [0x03, 0xF0], message)  // 1008
            let closed = try await socket.waitUntilClosed()
            XCTAssertTrue(closed, message)
        }
        let (socket, _) = try await WebSocketTestClient.open(
            port: harness.port, path: "/v1/responses", headers: [], test: self)
        try await socket.send(binary: [1, 2, 3])
        let event = try await socket.readFrame()
        XCTAssertTrue(event.text.contains("first message must be"), event.text)
        XCTAssertTrue(upstream.seen.handshakes.isEmpty)
    }

    private func waitFor(_ condition: @Sendable () -> Bool, within seconds: Double = 10) async throws {
        let deadline = Date().addingTimeInterval(seconds)
        while !condition() {
            guard Date() < deadline else {
                XCTFail("condition not met within \(seconds) s")
                return
            }
            try await Task.sleep(nanoseconds: 5_000_000)
        }
    }
}
