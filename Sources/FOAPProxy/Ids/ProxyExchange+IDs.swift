import FOAPConfig
import NIOCore
import NIOHTTP1

/// Calls that name an object rather than a model (`GET /v1/batches/{id}`), lists one upstream keeps, and uploads
/// whose body names no model: where each goes.
extension ProxyExchange {
    /// Where a call by id goes: the model, endpoint and upstream the id's trailer names, with the id as that
    /// upstream made it. An id without a trailer (made before foap, or a stored chat completion) can only be routed
    /// by a hint: `?model=` or `X-Foap-Model`. Nil once the call was answered (an unknown id is a 404).
    private func target(ofID presented: String, family: IDFamily) -> ObjectTarget? {
        let routing = self.engine.idRouting
        // Without a secret no id carries a trailer: each is routed by its hint, as it was made.
        switch routing?.trailer.decode(presented) ?? .plain(presented) {
        case .forged:
            break
        case .routed(let original, let tag):
            if let found = routing?.route(
                tag: tag, path: family.path, in: self.engine.snapshot, allowed: self.clientMayUse)
            {
                return ObjectTarget(model: found.model, endpoint: found.endpoint, upstream: found.upstream, id: original)
            }
        case .plain(let original):
            if let hint = self.modelHint, self.clientMayUse(hint), let model = self.engine.snapshot.model(hint),
                let endpoint = model.endpoint(for: family.path),
                let index = self.pickUpstream(model: model.id, endpoint: endpoint, excluding: .empty)
            {
                return ObjectTarget(model: model, endpoint: endpoint, upstream: index, id: original)
            }
        }
        self.respond(error: .unknownID)
        return nil
    }

    /// `GET|DELETE /v1/responses/{id}`, `POST /v1/batches/{id}/cancel`, `POST /v1/conversations/{id}/items`, …: to
    /// the upstream that made the object, pinned there (no failover: the object is on that box). A JSON body goes
    /// with it, less the trailers of the ids it brings back (which must name the same upstream).
    func forwardByID(_ presented: String, family: IDFamily, suffix: String, body: ByteBuffer? = nil) {
        guard let target = self.target(ofID: presented, family: family) else { return }
        self.record.model = target.model.id
        var payload = UpstreamRequest.Payload.none
        if var body, body.readableBytes > 0 {
            if let routing = self.engine.idRouting {
                let inbound = IDFieldRewriter.stripInbound(body, trailer: routing.trailer)
                let here = routing.tag(model: target.model, endpoint: target.endpoint, upstream: target.upstream)
                guard !inbound.forged, inbound.tags.allSatisfy({ $0 == here }) else {
                    self.respond(error: inbound.forged ? .unknownID : .idFromAnotherUpstream(model: target.model.id))
                    return
                }
                body = inbound.body ?? body
            }
            do {
                payload = .json(body, try JSONModelScanner.inspect(body, requireModel: false))
            } catch {
                self.respond(error: error.openAIError)
                return
            }
        }
        let suffixPath = "/" + target.id.addingPathPercentEncoding() + suffix
        // A call by id is a request like any other for the client key's limits (it costs no tokens).
        self.admit(model: target.model.id, body: nil, bodyBytes: body?.readableBytes ?? 0) {
            self.forward(
                UpstreamRequest(
                    model: target.model, endpoint: target.endpoint, method: self.head.method, urlSuffix: suffixPath,
                    payload: payload, pinned: true),
                startingWith: target.upstream)
        }
    }

    /// `POST /v1/uploads/{id}/parts`: a part's bytes stream, untouched, to the upstream that holds the upload.
    func startUploadByID(_ presented: String, family: IDFamily, suffix: String, scanner: MultipartModelScanner) {
        guard let target = self.target(ofID: presented, family: family) else { return }
        self.record.model = target.model.id
        self.streamUntouched(
            scanner, model: target.model, endpoint: target.endpoint, upstream: target.upstream,
            urlSuffix: "/" + target.id.addingPathPercentEncoding() + suffix)
    }

    /// The model of a request whose body names none (a batch, a file upload, a list, llama.cpp's tokenize):
    /// `?model=` or `X-Foap-Model`, else the route's `default_for_route` model.
    func modelNamedOutsideBody(for path: String) -> String? {
        self.modelHint ?? self.engine.snapshot.defaultModel(forRoute: path)?.id
    }

    /// The model a call that carries only an id names: `?model=` or `X-Foap-Model`.
    var modelHint: String? {
        if let header = self.head.fields.first(name: "x-foap-model"), !header.isEmpty {
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
        guard let modelID = self.modelNamedOutsideBody(for: family.path) else {
            self.respond(
                error: .invalidRequest(
                    "Name the model whose upstream keeps this list: ?model= or the X-Foap-Model header.",
                    code: .missingModel, param: "model"))
            return
        }
        guard let (model, endpoint) = self.resolve(model: modelID, on: family.path) else { return }
        self.admit(model: model.id, body: nil, bodyBytes: 0) {
            self.forward(UpstreamRequest(model: model, endpoint: endpoint, method: self.head.method, payload: .none))
        }
    }

    /// A file upload names no model: the hint or the route's default picks it before the first byte of the body,
    /// which then streams upstream untouched (a `model` part in it is refused, as a second one is elsewhere).
    func startUploadNamedByHint(_ scanner: MultipartModelScanner) {
        guard case .forward(let path) = self.route, let modelID = self.modelNamedOutsideBody(for: path) else {
            self.refuse(JSONBodyError.missingModel.openAIError)
            return
        }
        guard let (model, endpoint) = self.resolve(model: modelID) else { return }
        self.streamUntouched(scanner, model: model, endpoint: endpoint)
    }

    /// Admits a multipart upload whose target is known before its first byte, then streams it untouched.
    private func streamUntouched(
        _ scanner: MultipartModelScanner, model: ModelConfig, endpoint: EndpointConfig, upstream: Int? = nil,
        urlSuffix: String = ""
    ) {
        self.bodyMode = .admitting(ByteBuffer(), scanner.duplicateModelDetector(fromBodyStart: true))
        self.admit(model: model.id, body: nil, bodyBytes: self.declaredLength ?? 0) {
            guard case .admitting(let held, let detector) = self.bodyMode else { return }
            self.bodyMode = .none
            self.streamMultipart(
                held, field: nil, detector: detector, model: model, endpoint: endpoint, upstream: upstream,
                urlSuffix: urlSuffix)
        }
    }
}

/// The model, endpoint and upstream an object id belongs to, and the id as that upstream made it.
struct ObjectTarget {
    let model: ModelConfig
    let endpoint: EndpointConfig
    let upstream: Int
    let id: String
}
