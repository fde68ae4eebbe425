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

    /// The upstream refused foap's handshake after the client had its `101`.
    static func upstreamRefusedSocket(status: HTTPResponseStatus, message: String) -> OpenAIError {
        OpenAIError(
            status: status.code >= 400 ? status : .badGateway, type: "server_error", code: .upstreamError,
            message: "The upstream refused the WebSocket (\(status.code)): \(message)")
    }
}
