import FOAPConfig
import NIOCore
import NIOHTTP1

/// Calls that name an object rather than a model (`GET /v1/batches/{id}`), lists one upstream keeps, and uploads
/// whose body names no model: where each goes.
extension ProxyExchange {
    /// `GET|DELETE /v1/responses/{id}`, `POST /v1/batches/{id}/cancel`, …: to the upstream the id's trailer names,
    /// with the id as that upstream made it. An id without a trailer (made before foap, or a stored chat completion)
    /// can only be routed by a hint: `?model=` or `X-Foap-Model`.
    func forwardByID(_ presented: String, family: IDFamily, suffix: String) {
        let routing = self.engine.idRouting
        let target: (model: ModelConfig, endpoint: EndpointConfig, upstream: Int)
        let id: String
        // Without a secret no id carries a trailer: each is routed by its hint, as it was made.
        switch routing?.trailer.decode(presented) ?? .plain(presented) {
        case .forged:
            self.respond(error: .unknownID)
            return
        case .routed(let original, let tag):
            guard let found = routing?.route(tag: tag, path: family.path, in: self.engine.snapshot, allowed: self.clientMayUse)
            else {
                self.respond(error: .unknownID)
                return
            }
            (target, id) = (found, original)
        case .plain(let original):
            guard let hint = self.modelHint, self.clientMayUse(hint), let model = self.engine.snapshot.model(hint),
                let endpoint = model.endpoint(for: family.path),
                let index = self.pickUpstream(model: model.id, endpoint: endpoint, excluding: .empty)
            else {
                self.respond(error: .unknownID)
                return
            }
            (target, id) = ((model, endpoint, index), original)
        }
        self.record.model = target.model.id
        let suffixPath = "/" + id.addingPathPercentEncoding() + suffix
        // A call by id is a request like any other for the client key's limits (it costs no tokens).
        self.admit(model: target.model.id, body: nil, bodyBytes: 0) {
            self.forward(
                UpstreamRequest(
                    model: target.model, endpoint: target.endpoint, method: self.head.method, urlSuffix: suffixPath,
                    payload: .none, pinned: true),
                startingWith: target.upstream)
        }
    }

    /// The model a call that carries only an id names: `?model=` or `X-Foap-Model`.
    var modelHint: String? {
        if let header = self.head.headers.first(name: "x-foap-model"), !header.isEmpty {
            return header
        }
        guard let query = self.head.uri.split(separator: "?", maxSplits: 1).dropFirst().first else { return nil }
        for parameter in query.split(separator: "&") where parameter.hasPrefix("model=") {
            return Route.percentDecoded(parameter.dropFirst(6))
        }
        return nil
    }


    /// `GET /v1/files`, `GET /v1/batches`: to an upstream of the model `?model=` or `X-Foap-Model` names, else of
    /// the route's `default_for_route` model. In a pool each box lists only its own objects.
    func forwardList(_ family: IDFamily) {
        guard let modelID = self.modelHint ?? self.engine.snapshot.defaultModel(forRoute: family.path)?.id else {
            self.respond(
                error: .invalidRequest(
                    "Name the model whose upstream keeps this list: ?model= or the X-Foap-Model header.",
                    code: .missingModel, param: "model"))
            return
        }
        self.record.model = modelID
        guard self.clientMayUse(modelID), let model = self.engine.snapshot.model(modelID) else {
            self.respond(error: .modelNotFound(modelID))
            return
        }
        guard let endpoint = model.endpoint(for: family.path) else {
            self.respond(error: .routeNotServed(model: modelID, route: family.path))
            return
        }
        self.admit(model: model.id, body: nil, bodyBytes: 0) {
            self.forward(UpstreamRequest(model: model, endpoint: endpoint, method: self.head.method, payload: .none))
        }
    }

    /// A file upload names no model: the hint or the route's default picks it before the first byte of the body,
    /// which then streams upstream untouched (a `model` part in it is refused, as a second one is elsewhere).
    func startUploadNamedByHint(_ scanner: MultipartModelScanner) {
        guard case .forward(let path) = self.route,
            let modelID = self.modelHint ?? self.engine.snapshot.defaultModel(forRoute: path)?.id
        else {
            self.refuse(JSONBodyError.missingModel.openAIError)
            return
        }
        guard let (model, endpoint) = self.resolve(model: modelID) else { return }
        var detector = scanner.duplicateModelDetector()
        // The detector looks for `CRLF--boundary`; the body's first delimiter has no CRLF before it.
        _ = detector.inspect(ByteBuffer(string: "\r\n"))
        self.bodyMode = .admitting(ByteBuffer(), detector)
        self.admit(model: model.id, body: nil, bodyBytes: self.declaredLength ?? 0) {
            guard case .admitting(let held, let detector) = self.bodyMode else { return }
            self.bodyMode = .none
            self.streamMultipart(held, field: nil, detector: detector, model: model, endpoint: endpoint)
        }
    }
}
