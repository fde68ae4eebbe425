import NIOCore

/// Client API keys in the request path: who may call which route and model (the keys themselves are checked by
/// ``ClientAuthenticator``).
extension ProxyExchange {
    /// Looks up the client's key and stores its grant; on failure refuses the request with the 401.
    ///
    /// - Returns: whether the request may go on.
    func authenticateClient() -> Bool {
        // `headers` builds `String`s: only when there are keys to check.
        let outcome = self.engine.authenticator.authenticate(
            self.head.headers, acceptXAPIKey: self.traits.isAnthropic,
            acceptWebSocketProtocolKey: self.traits.acceptsWebSocketProtocolKey)
        switch outcome {
        case .success(let grant):
            self.grant = grant
            self.record.keyName = grant.keyName
            return true
        case .failure(let error):
            self.refuse(error)
            return false
        }
    }

    /// Whether the authenticated client may use model `id`. Fails closed when nothing was authenticated.
    func clientMayUse(_ id: String) -> Bool {
        self.grant?.allows(id) ?? false
    }

    /// `/v1/models` as this client may see it. Fails closed (an empty list) when nothing was authenticated.
    var clientModelList: ByteBuffer {
        self.grant?.modelList ?? ByteBuffer(string: "{\"object\":\"list\",\"data\":[]}\n")
    }
}
