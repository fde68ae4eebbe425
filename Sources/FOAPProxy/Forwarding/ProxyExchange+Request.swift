import FOAPConfig
import NIOCore
import NIOHTTP1

/// The request side of an exchange: its head, its body as it arrives, and where it goes.
extension ProxyExchange {
    // MARK: Events from the client connection

    func start() {
        if self.head.version.major == 1, self.head.version.minor >= 1, self.requestHeaders.hostCount != 1 {
            self.abortRequest(.invalidHost)
            return
        }
        // Routed by the first, parsed upstream perhaps by the last: a multipart body's boundary must be one.
        if self.requestHeaders.contentTypeCount > 1 {
            self.abortRequest(.repeatedContentType)
            return
        }
        // Client keys: a missing or wrong key is answered with a 401 (after the body if it is small, else at once).
        if self.traits.needsClientKey, !self.authenticateClient() {
            return
        }
        if case .rejected(let error) = self.route {
            self.refuse(error)
            return
        }
        // A declared length over the limit is refused before a byte of the body is read.
        if self.declaredLength.map({ $0 > self.bodyLimit }) ?? false {
            self.abortRequest(.bodyTooLarge(limit: self.bodyLimit))
            return
        }
        guard self.traits.takesBody else {
            self.bodyMode = .discarding
            return
        }
        // Only after the size check: a 100 Continue invites a body that would then be refused.
        if self.requestHeaders.expectsContinue {
            self.machine.continueSent()
            let interim = HTTPResponseHead(version: self.head.version, status: .continue)
            self.output.writeAndFlush(.head(interim), promise: nil)
        }
        let contentType = self.requestHeaders.multipartCandidateContentType.map(MultipartHeaderReading.contentType)
        if contentType == .ambiguous {
            self.abortRequest(.ambiguousMultipartBoundary)
            return
        }
        if case .boundary(let boundary) = contentType {
            let scanner = MultipartModelScanner(boundary: boundary)
            if case .byID(let family, let id, let suffix) = self.route {
                self.startUploadByID(id, family: family, suffix: suffix, scanner: scanner)
                return
            }
            if self.traits.bodyNamesNoModel {
                self.startUploadNamedByHint(scanner)
                return
            }
            self.bodyMode = .holdingMultipart(ByteBuffer(), scanner)
        } else {
            self.bodyMode = .buffering(ByteBuffer())
        }
    }

    /// The largest read whose storage a buffered body may keep instead of a copy of its bytes (see `receiveBody`).
    static let keptReadLimit = 4096

    func receiveBody(_ buffer: ByteBuffer) {
        guard !self.finished else { return }
        self.record.bytesIn += buffer.readableBytes
        let over = self.machine.bodyPartReceived(count: buffer.readableBytes, limit: self.bodyLimit)
        guard over == .none else {
            self.perform(over)
            return
        }
        switch self.bodyMode {
        case .none, .discarding:
            break
        case .buffering(var held):
            if held.readableBytes == 0, buffer.storageCapacity <= Self.keptReadLimit {
                // The first part is kept as it came, a slice of the read: a body that arrives in one read (nearly
                // every JSON request) is not copied here. Its copy into an empty buffer allocated and cost ~870
                // instructions per request in bench/profile. A later part copies it then, as before. The body stays
                // for the whole exchange (a pool retries with it), and a slice keeps its read's whole storage: only
                // a small read is kept this way.
                self.bodyMode = .buffering(buffer)
                return
            }
            self.bodyMode = .none  // avoid a copy-on-write of `held`
            held.writeImmutableBuffer(buffer)
            self.bodyMode = .buffering(held)
        case .holdingMultipart(var held, var scanner):
            self.bodyMode = .none
            held.writeImmutableBuffer(buffer)
            self.scanMultipart(held, scanner: &scanner)
        case .admitting(var held, var detector):
            self.bodyMode = .none
            if let refusal = detector.inspect(buffer).refusal {
                self.abortRequest(refusal)
                return
            }
            held.writeImmutableBuffer(buffer)
            self.bodyMode = .admitting(held, detector)
        case .streaming(var detector):
            self.bodyMode = .none
            if let refusal = detector.inspect(buffer).refusal {
                self.abortRequest(refusal)
                return
            }
            self.bodyMode = .streaming(detector)
            self.upload?.append(buffer)
            self.machine.uploadProgressed(now: .now())
            self.askForTimeoutCheck()
        }
    }

    func receiveEnd() {
        guard !self.finished else { return }
        let ended = self.machine.requestEnded()
        guard ended == .none else {
            self.perform(ended)
            return
        }
        switch self.bodyMode {
        case .buffering(let body):
            self.bodyMode = .none
            if case .byID(let family, let id, let suffix) = self.route {
                self.forwardByID(id, family: family, suffix: suffix, body: body)
            } else {
                self.forwardJSON(body)
            }
        case .holdingMultipart(let held, var scanner):
            self.bodyMode = .none
            self.scanMultipart(held, scanner: &scanner)
        case .streaming:
            self.upload?.finish()
        case .admitting:
            break  // the upload starts once admitted, and sees that the request ended
        case .discarding:
            if !self.machine.isFinished {
                self.answerWithoutBody()
            }
        case .none:
            self.answerWithoutBody()
        }
    }

    /// The client connection closed: abandon whatever is in flight.
    func clientClosed() {
        guard !self.finished else { return }
        self.perform(self.machine.clientClosed())
    }

    /// The client sent part of its body, then nothing for `bodyTimeout` (`ProxyConnectionHandler` keeps that clock).
    func bodyTimedOut() {
        guard !self.finished else { return }
        let timeout = self.engine.configuration.bodyTimeout
        self.abortRequest(.bodyTimeout(seconds: Double(timeout.nanoseconds) / 1_000_000_000))
    }

    // MARK: Routing the request

    private func answerWithoutBody() {
        switch self.route {
        case .listModels:
            self.respond(status: .ok, json: self.clientModelList)
        case .retrieveModel(let id):
            self.record.model = id
            if self.clientMayUse(id), let entry = self.engine.catalog.entry(for: id) {
                self.respond(status: .ok, json: entry)
            } else {
                self.respond(error: .modelNotFound(id))
            }
        case .health:
            self.respond(status: .ok, json: self.engine.healthBody)
        case .modelHealth(let id):
            self.record.model = id
            guard self.clientMayUse(id), let model = self.engine.snapshot.model(id) else {
                self.respond(error: .modelNotFound(id))
                return
            }
            HealthProbe(engine: self.engine, eventLoop: self.context.eventLoop).probe(model).whenSuccess {
                status, body in
                self.respond(status: status, json: body)
            }
        case .metrics:
            self.answerMetrics()
        case .imageData(let id, let fileID):
            self.record.model = id
            // Open without a key (its URLs are links): one answer for "no such model" and "no image data", so
            // that it cannot be used to list the configured models.
            guard let model = self.engine.snapshot.model(id), let endpoint = model.endpoint(for: "v1/images/data")
            else {
                self.respond(error: .modelNotFound(id))
                return
            }
            // `.` and `..` would be resolved by the upstream as path steps, reaching other paths on its key.
            guard fileID != ".", fileID != ".." else {
                self.respond(error: .invalidFileID(fileID))
                return
            }
            self.admit(model: id, body: nil, bodyBytes: 0) {
                let method: HTTPMethod = self.isHead ? .HEAD : .GET
                let suffix = "/" + fileID.addingPathPercentEncoding()
                self.forward(
                    UpstreamRequest(model: model, endpoint: endpoint, method: method, urlSuffix: suffix, payload: .none))
            }
        case .byID(let family, let id, let suffix):
            self.forwardByID(id, family: family, suffix: suffix)
        case .list(let family):
            self.forwardList(family)
        case .webSocket(let socket):
            self.openWebSocket(socket)
        case .forward, .rejected:
            self.respond(error: .malformedHTTP)
        }
    }

    private func forwardJSON(_ body: ByteBuffer) {
        var inspection: JSONBodyInspection
        do {
            inspection = try JSONModelScanner.inspect(body, requireModel: false)
        } catch {
            self.respond(error: error.openAIError)
            return
        }
        if !inspection.hasModel {
            // A body that names no model (a batch, a conversation, llama.cpp's tokenize) goes where `?model=` or
            // `X-Foap-Model` says, else to the route's `default_for_route` model.
            guard case .forward(let path) = self.route, let model = self.modelNamedOutsideBody(for: path) else {
                self.respond(error: JSONBodyError.missingModel.openAIError)
                return
            }
            inspection.model = model
        }
        self.record.stream = inspection.stream
        guard let (model, endpoint) = self.resolve(model: inspection.model) else { return }
        // A follow-up (`previous_response_id`, a file id…) goes to the upstream that made the id, without the
        // trailer foap put on it.
        var body = body
        var pinnedUpstream: Int?
        if let routing = self.engine.idRouting, self.traits.handsOutIDs {
            let inbound = IDFieldRewriter.stripInbound(body, trailer: routing.trailer)
            guard !inbound.forged, inbound.tags.count <= 1 else {
                self.respond(error: .unknownID)
                return
            }
            if let tag = inbound.tags.first {
                guard let index = routing.upstream(tagged: tag, model: model, endpoint: endpoint) else {
                    self.respond(error: .idFromAnotherUpstream(model: model.id))
                    return
                }
                pinnedUpstream = index
                if let stripped = inbound.body {
                    body = stripped
                    do {
                        let model = inspection.model
                        inspection = try JSONModelScanner.inspect(body, requireModel: false)
                        inspection.model = model  // a body without one keeps the model its hint named
                    } catch {
                        self.respond(error: error.openAIError)
                        return
                    }
                }
            }
        }
        // Built before admission, so the closure holds one reference instead of copies of the model's and the
        // endpoint's configs (a dozen retains each, ~1,500 instructions per request in bench/profile).
        let request = UpstreamRequest(
            model: model, endpoint: endpoint, method: .POST, payload: .json(body, inspection),
            pinned: pinnedUpstream != nil)
        guard self.needsAdmission else {
            self.forward(request, startingWith: pinnedUpstream)
            return
        }
        self.admit(model: model.id, body: body, bodyBytes: body.readableBytes) {
            self.forward(request, startingWith: pinnedUpstream)
        }
    }

    private func scanMultipart(_ held: ByteBuffer, scanner: inout MultipartModelScanner) {
        switch scanner.scan(held, isComplete: self.requestEnded) {
        case .needMoreData:
            self.bodyMode = .holdingMultipart(held, scanner)
        case .noModelField:
            self.refuse(JSONBodyError.missingModel.openAIError)
        case .malformed:
            self.refuse(.malformedMultipart)
        case .ambiguousPart:
            self.refuse(.ambiguousMultipartPart)
        case .modelTooLate:
            self.refuse(.multipartModelTooLate(limit: MultipartModelScanner.maximumHeldBytes))
        case .found(let field):
            self.forwardMultipart(held, field: field, detector: scanner.duplicateModelDetector())
        }
    }

    /// Admits an upload whose `model` part was found in `held` (holding what arrives meanwhile), then streams it.
    private func forwardMultipart(
        _ held: ByteBuffer, field: MultipartModelField, detector: MultipartDuplicateModelDetector
    ) {
        // Every part after `model` streams upstream unread: first make sure the held rest has no second one.
        var detector = detector
        if let refusal = detector.inspect(MultipartModelRewriter.rest(of: held, after: field)).refusal {
            self.refuse(refusal)
            return
        }
        guard let (model, endpoint) = self.resolve(model: field.model) else {
            return
        }
        self.bodyMode = .admitting(held, detector)
        self.admit(model: model.id, body: nil, bodyBytes: self.declaredLength ?? held.readableBytes) {
            // Stopped meanwhile (a second model part, a body over the limit): nothing is held any more.
            guard case .admitting(let latest, let detector) = self.bodyMode else { return }
            self.bodyMode = .none
            self.streamMultipart(latest, field: field, detector: detector, model: model, endpoint: endpoint)
        }
    }

    /// Starts streaming an admitted upload: the held bytes (with its `model` part rewritten, if it has one), then
    /// the rest.
    /// - Parameters:
    ///   - upstream: the upstream an object id names (a part of an upload), else one is picked.
    ///   - urlSuffix: after the endpoint's URL (`/{id}/parts`).
    func streamMultipart(
        _ held: ByteBuffer, field: MultipartModelField?, detector: MultipartDuplicateModelDetector,
        model: ModelConfig, endpoint: EndpointConfig, upstream: Int? = nil, urlSuffix: String = ""
    ) {
        // A streamed upload goes to one upstream, picked before its model name is written into the body.
        guard let index = upstream ?? self.pickUpstream(model: model.id, endpoint: endpoint, excluding: .empty) else {
            self.refuse(.noHealthyUpstream(model: model.id, route: endpoint.path))
            return
        }
        let targetModelName = endpoint.upstreams[index].targetModelName
        let prefix = field.map { MultipartModelRewriter.rewrite(held, field: $0, targetModel: targetModelName) } ?? held
        let contentLength = self.requestHeaders.contentLength != nil
            ? self.declaredLength.map { $0 + prefix.readableBytes - held.readableBytes } : nil
        let upload = UploadStream(eventLoop: self.context.eventLoop) { [weak self] paused in
            self?.owner?.exchange(setReadPaused: paused)
        }
        self.upload = upload
        self.bodyMode = .streaming(detector)
        upload.append(prefix)
        if self.requestEnded {
            upload.finish()
        }
        let body = upload.makeBody(contentLength: contentLength)
        let request = UpstreamRequest(
            model: model, endpoint: endpoint, method: .POST, urlSuffix: urlSuffix,
            payload: .streamed(body, contentLength: contentLength), pinned: upstream != nil)
        self.forward(request, startingWith: index)
    }

    /// Finds the model and its endpoint for this route, refusing the request itself when there is none.
    func resolve(model id: String) -> (ModelConfig, EndpointConfig)? {
        guard case .forward(let path) = self.route else { return nil }
        return self.resolve(model: id, on: path)
    }

    /// Finds the model and its endpoint for `path`, refusing the request itself when there is none.
    func resolve(model id: String, on path: String) -> (ModelConfig, EndpointConfig)? {
        self.record.model = id
        guard self.clientMayUse(id), let model = self.engine.snapshot.model(id) else {
            self.refuse(.modelNotFound(id))
            return nil
        }
        guard let endpoint = model.endpoint(for: path) else {
            self.refuse(.routeNotServed(model: id, route: path))
            return nil
        }
        return (model, endpoint)
    }

    // MARK: The body's size

    /// The body length the head announces (`RequestHeaderFacts.declaredBodyLength`): nil for a chunked body.
    var declaredLength: Int? { self.requestHeaders.declaredBodyLength }

    /// The most body bytes this request may send: the configured limit for routes that forward a body, a small
    /// one for routes that take none (their body is only read and dropped).
    var bodyLimit: Int {
        self.traits.takesBody ? self.engine.configuration.maxBodySize : self.engine.configuration.maxDiscardedBodySize
    }
}
