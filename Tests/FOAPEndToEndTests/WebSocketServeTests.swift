import Foundation
import WebSocketTestSupport
import XCTest

/// WebSocket tunnels through the real binary: a Realtime socket opened on a worker of `foap serve` keeps carrying
/// frames across a reload (its worker drains it instead of cutting it), sockets opened after the reload reach the
/// new generation, and a client that leaves closes the upstream's end.
final class WebSocketServeTests: XCTestCase {
    private static func models(_ upstream: WebSocketUpstream, model: String) -> String {
        #"{"mock":{"target_base_url":"\#(upstream.baseURL)","models":{"#
            + #""\#(model)":{"endpoints":[{"path":"v1/realtime","target_model_name":"up-\#(model)"}]}}}}"#
    }

    func testASocketOutlivesAReloadAndItsClientClosesTheUpstreamsEnd() async throws {
        let upstream = try WebSocketUpstream()
        self.addTeardownBlock { try? upstream.stop() }
        let foap = try await self.startFoap(workers: 2, files: ["models.json": Self.models(upstream, model: "voice")])
        let (socket, head) = try await WebSocketTestClient.open(
            port: foap.port, path: "/v1/realtime?model=voice", headers: [], test: self)
        XCTAssertEqual(head.status, 101)
        let greeting = try await socket.readFrame()
        XCTAssertEqual(greeting.text, #"{"type":"session.created","model":"up-voice"}"#)

        try EndToEndConfig.writeByRename(Self.models(upstream, model: "talk"), to: foap.configFile("models.json"))
        try await foap.waitFor("reload done for generation 2", timeout: .seconds(20)) {
            !foap.log.records("reload done", where: ["generation": "2"]).isEmpty
        }
        // The old generation's worker still carries the socket it accepted.
        try await socket.send(text: "after the reload")
        let echo = try await socket.readFrame()
        XCTAssertEqual(echo.text, "echo:after the reload")
        // New sockets reach the new generation (which serves "talk", not "voice").
        let (newSocket, newHead) = try await WebSocketTestClient.open(
            port: foap.port, path: "/v1/realtime?model=talk", headers: [], test: self)
        XCTAssertEqual(newHead.status, 101)
        let newGreeting = try await newSocket.readFrame()
        XCTAssertEqual(newGreeting.text, #"{"type":"session.created","model":"up-talk"}"#)

        await socket.close()
        await newSocket.close()
        try await foap.waitFor("both upstream sockets closed", timeout: .seconds(10)) {
            upstream.seen.closedSockets == 2
        }
    }
}
