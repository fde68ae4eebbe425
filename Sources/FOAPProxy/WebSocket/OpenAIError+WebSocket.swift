import NIOCore
import NIOHTTP1

extension OpenAIError {
    /// A plain `GET` (or a broken handshake) on a WebSocket route: 426 with the `Upgrade` it needs (RFC 9110 §15.5.22).
    static func webSocketUpgradeRequired(route: String) -> OpenAIError {
        OpenAIError(
            status: .upgradeRequired,
            type: "invalid_request_error",
            code: .webSocketUpgradeRequired,
            message: "/\(route) is a WebSocket: send a GET with 'Connection: Upgrade', 'Upgrade: websocket', "
                + "'Sec-WebSocket-Key' and 'Sec-WebSocket-Version: 13'.",
            headers: [("Upgrade", "websocket")]
        )
    }

    /// `GET /v1/realtime` without `?model=` (or `X-Foap-Model`).
    static func webSocketModelMissing(route: String) -> OpenAIError {
        .invalidRequest(
            "/\(route) needs the model as a query parameter: /\(route)?model=<model>.", code: .missingModel,
            param: "model")
    }

    /// A Responses socket's message foap cannot route (not `response.create`, a broken frame).
    static func invalidSocketMessage(_ reason: String) -> OpenAIError {
        .invalidRequest("Invalid WebSocket message: \(reason).", code: .invalidJSON)
    }

    /// This error as a Responses socket tells it: an `error` event like the API's own, then a close frame (1008 for
    /// the client's mistakes, 1011 for the upstream's).
    func socketFrames(allocator: ByteBufferAllocator) -> ByteBuffer {
        var event = ByteBuffer()
        event.writeStaticString("{\"type\":\"error\",\"status\":")
        event.writeString(String(self.status.code))
        event.writeStaticString(",")
        var body = self.body(allocator: allocator)
        body.moveReaderIndex(forwardBy: 1)  // the body's own `{`: its members follow the event's
        event.writeBuffer(&body)
        let code: UInt16 = self.status.code >= 500 ? 1011 : 1008
        var frames = WebSocketFraming.serverFrame(.text, payload: event, allocator: allocator)
        var close = WebSocketFraming.serverFrame(
            .close, payload: WebSocketFraming.closePayload(code: code, reason: self.code.rawValue), allocator: allocator)
        frames.writeBuffer(&close)
        return frames
    }

    /// A later message of a Responses socket names another model than its first: the key was checked for that one,
    /// and the socket's upstream serves that one.
    static func socketModelChanged(socketModel: String) -> OpenAIError {
        .invalidRequest(
            "This socket serves model '\(LoggedValue.capped(socketModel))'; open another socket for another model.",
            code: .invalidModel, param: "model")
    }

    /// The upstream refused foap's handshake after the client had its `101`.
    static func upstreamRefusedSocket(status: HTTPResponseStatus, message: String) -> OpenAIError {
        OpenAIError(
            status: status.code >= 400 ? status : .badGateway, type: "server_error", code: .upstreamError,
            message: "The upstream refused the WebSocket (\(status.code)): \(message)")
    }
}
