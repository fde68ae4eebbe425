import NIOCore

/// Client API keys in the request path: who may call which route and model (the keys themselves are checked by
/// ``ClientAuthenticator``).
extension ProxyExchange {
    /// Every route that uses or reveals a model needs a key. `/health` stays open for load balancers; image data
    /// stays open because its URLs are handed out as links (browsers fetch them without headers), like the
    /// capability URLs OpenAI itself returns. Rejected requests get their own error first.
    var routeNeedsClientKey: Bool {
        switch self.route {
        case .forward, .listModels, .retrieveModel, .modelHealth, .metrics:
            return true
        case .health, .imageData, .rejected:
            return false
        }
    }

    /// Looks up the client's key and stores its grant; on failure schedules the 401 for when the body has been
    /// read (the connection stays usable).
    ///
    /// - Returns: whether the request may go on.
    func authenticateClient() -> Bool {
        switch self.engine.authenticator.authenticate(self.head.headers) {
        case .success(let grant):
            self.grant = grant
            self.record.keyName = grant.keyName
            return true
        case .failure(let error):
            self.respondAfterBody(error)
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
