import AsyncHTTPClient
import FOAPConfig
import Logging
import NIOCore
import NIOHTTP1

/// The connection-side half of an exchange: what the exchange needs from the handler that owns the socket.
protocol ExchangeOwner: AnyObject {
    /// Stop (`true`) or resume (`false`) reading from the client: upload backpressure.
    func exchange(setReadPaused paused: Bool)
    /// The response was written whole (or abandoned); `close` when the connection must not be reused.
    func exchangeFinished(close: Bool, after lastWrite: EventLoopFuture<Void>?)
    /// Call `checkUpstreamTimeout` no later than `deadline` (see `ProxyConnectionHandler`'s timeout timer).
    func exchangeNeedsTimeoutCheck(by deadline: NIODeadline)
}

/// One request and its response: route, read the body, pick the upstream, forward, relay the answer.
///
/// Loop-bound: created by `ProxyConnectionHandler` and driven only on its channel's event loop, including the
/// AsyncHTTPClient delegate callbacks (the upstream request is pinned to the same loop), so nothing here locks
/// and no request hops threads.
final class ProxyExchange {
    let engine: ProxyEngine
    let context: ChannelHandlerContext
    weak var owner: (any ExchangeOwner)?
    let head: HTTPRequestHead
    let route: Route
    let keepAlive: Bool
    /// A HEAD request: every answer goes out without its body (RFC 9110 §9.3.2).
    let isHead: Bool
    /// The body length the head announces (see `declaredBodyLength`): nil for a chunked body.
    let declaredLength: Int?
    var record: AccessRecord
    /// The models this client may use; set by `authenticateClient()` (ProxyExchange+ClientKeys.swift).
    var grant: ClientGrant?

    // Request body.
    private var bodyMode: BodyMode = .none
    private(set) var requestEnded = false
    /// Whether the client sent `Expect: 100-continue`, and whether the `100 Continue` went out.
    private var expectsContinue: Bool { self.head.headers.first(name: "expect")?.lowercased() == "100-continue" }
    private var continueSent = false
    /// An error decided before the body ended; answered once the client has sent it all.
    private var pendingError: OpenAIError?

    // Upstream.
    /// The upstream call in flight: an AsyncHTTPClient task or a pooled plain-HTTP call (Upstream/).
    var task: (any UpstreamCall)?
    var upload: UploadStream?
    /// The request as it goes upstream, with its attempts (Forwarding.swift, ProxyExchange+Attempts.swift).
    var forwarding: Forwarding?
    /// The endpoint has several upstreams: verdicts go to the balancer (a Bool, so the hot path of a single
    /// upstream does not copy `forwarding` to find out).
    var isPooled = false
    /// The sink of the attempt in flight when the request may make several; nil otherwise (the exchange is the sink).
    var currentAttempt: UpstreamAttempt?
    /// Reads `usage` out of a 2xx answer of a route that reports it (TokenUsageScanner.swift).
    var usageScanner: TokenUsageScanner?
    /// Set when `inject_stream_usage` asked for a usage chunk the client did not (StreamUsageInjection.swift).
    var usageChunkFilter: UsageChunkFilter?
    /// When the upstream has been silent too long; moved forward by every head and body part (see `armTimer`).
    var upstreamDeadline: NIODeadline?
    /// The client may have received bytes of the answer: from here on an error can only cut the connection.
    var responseHeadWritten = false
    /// The upstream's answer head, held until it is safe to commit to it (see `upstreamHead`).
    var pendingHead: HTTPResponseHead?
    /// `first_byte_timeout` applies: the held head waits for the first body byte, not just for the read's end.
    var pendingHeadAwaitsFirstByte = false
    var bufferedResponse: BufferedResponse?
    var finished = false

    enum BodyMode {
        case none
        case buffering(ByteBuffer)
        case holdingMultipart(ByteBuffer, MultipartModelScanner)
        /// A multipart upload going upstream as it arrives; a second `model` part stops it.
        case streaming(MultipartDuplicateModelDetector)
        /// Read and dropped: a small rest of a rejected request's body (see `respondAfterBody`), or the body of a
        /// route that takes none.
        case discarding
    }

    /// A JSON image answer held to rewrite `data[].url` values.
    struct BufferedResponse {
        var head: HTTPResponseHead
        var body: ByteBuffer
        var model: String
    }

    /// - Parameter client: the peer as the access log writes it, described once per connection.
    init(
        engine: ProxyEngine,
        context: ChannelHandlerContext,
        owner: any ExchangeOwner,
        head: HTTPRequestHead,
        client: String
    ) {
        self.engine = engine
        self.context = context
        self.owner = owner
        self.head = head
        self.route = Route.resolve(method: head.method, uri: head.uri)
        self.keepAlive = head.isKeepAlive && head.version.major == 1 && head.version.minor >= 1
        self.isHead = head.method == .HEAD
        self.declaredLength = Self.declaredBodyLength(head.headers)
        self.record = AccessRecord(head: head, route: self.route, client: client)
        engine.metrics.requestStarted()
    }

    // MARK: Request events

    func start() {
        if self.head.version.major == 1, self.head.version.minor >= 1, self.head.headers["host"].count != 1 {
            self.respond(error: .invalidHost, close: true)
            return
        }
        // Client keys: a missing or wrong key is answered with a 401 (after the body if it is small, else at once).
        if self.routeNeedsClientKey, !self.authenticateClient() {
            return
        }
        if case .rejected(let error) = self.route {
            self.respondAfterBody(error)
            return
        }
        if let declared = self.declaredLength, declared > self.bodyLimit {
            self.rejectOversizedBody()
            return
        }
        switch self.route {
        case .forward:
            // Only after the size check: a 100 Continue invites a body that would then be refused.
            if self.expectsContinue {
                self.continueSent = true
                self.context.writeAndFlush(
                    NIOAny(HTTPServerResponsePart.head(HTTPResponseHead(version: self.head.version, status: .continue)))
                    , promise: nil)
            }
            let contentType = self.head.headers.first(name: "content-type") ?? ""
            if let scanner = MultipartModelScanner(contentType: contentType) {
                self.bodyMode = .holdingMultipart(ByteBuffer(), scanner)
            } else {
                self.bodyMode = .buffering(ByteBuffer())
            }
        default:
            self.bodyMode = .discarding
        }
    }

    func receiveBody(_ buffer: ByteBuffer) {
        guard !self.finished else { return }
        self.record.bytesIn += buffer.readableBytes
        if self.record.bytesIn > self.bodyLimit {
            self.rejectOversizedBody()
            return
        }
        switch self.bodyMode {
        case .none, .discarding:
            break
        case .buffering(var held):
            self.bodyMode = .none  // avoid a copy-on-write of `held`
            held.writeImmutableBuffer(buffer)
            self.bodyMode = .buffering(held)
        case .holdingMultipart(var held, var scanner):
            self.bodyMode = .none
            held.writeImmutableBuffer(buffer)
            self.scanMultipart(held, scanner: &scanner)
        case .streaming(var detector):
            self.bodyMode = .none
            switch detector.inspect(buffer) {
            case .clean:
                self.bodyMode = .streaming(detector)
            case .duplicateModel:
                self.abortUpload(answering: .duplicateMultipartModel)
                return
            case .malformed:
                self.abortUpload(answering: .invalidMultipart("The multipart request body is malformed."))
                return
            }
            self.upload?.append(buffer)
            // A long upload is not a silent upstream: the timeout counts from the last byte moved, either way.
            if self.task != nil && !self.responseHeadWritten {
                self.armTimer()
            }
        }
    }

    func receiveEnd() {
        guard !self.finished else { return }
        self.requestEnded = true
        if let error = self.pendingError {
            self.respond(error: error)
            return
        }
        switch self.bodyMode {
        case .buffering(let body):
            self.bodyMode = .none
            self.forwardJSON(body)
        case .holdingMultipart(let held, var scanner):
            self.bodyMode = .none
            self.scanMultipart(held, scanner: &scanner)
        case .streaming:
            self.upload?.finish()
        case .none, .discarding:
            self.answerWithoutBody()
        }
    }

    /// The client connection closed: abandon whatever is in flight.
    func clientClosed() {
        guard !self.finished else { return }
        self.record.error = "client_closed"
        self.upload?.fail(ClientDisconnectedError())
        if let task = self.task {
            task.fail(reason: ClientDisconnectedError())
        } else {
            self.finish(close: true)
        }
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
            let escaped = fileID.addingPathPercentEncoding()
            self.forward(
                Forwarding(
                    model: model, endpoint: endpoint, method: self.isHead ? .HEAD : .GET, urlSuffix: "/" + escaped,
                    payload: .none))
        case .forward, .rejected:
            self.respond(error: .malformedHTTP)
        }
    }

    private func forwardJSON(_ body: ByteBuffer) {
        let inspection: JSONBodyInspection
        do {
            inspection = try JSONModelScanner.inspect(body)
        } catch {
            self.respond(error: error.openAIError)
            return
        }
        self.record.stream = inspection.stream
        guard let (model, endpoint) = self.resolve(model: inspection.model) else { return }
        self.forward(Forwarding(model: model, endpoint: endpoint, method: .POST, payload: .json(body, inspection)))
    }

    private func scanMultipart(_ held: ByteBuffer, scanner: inout MultipartModelScanner) {
        switch scanner.scan(held, isComplete: self.requestEnded) {
        case .needMoreData:
            self.bodyMode = .holdingMultipart(held, scanner)
        case .noModelField:
            self.respondAfterBody(JSONBodyError.missingModel.openAIError)
        case .malformed:
            self.respondAfterBody(.invalidMultipart("The multipart request body is malformed."))
        case .modelTooLate:
            self.respondAfterBody(.multipartModelTooLate(limit: MultipartModelScanner.maximumHeldBytes))
        case .found(let field):
            // Every part after `model` streams upstream unread: first make sure the held rest has no second one.
            var detector = scanner.duplicateModelDetector()
            let restStart = held.readerIndex + field.valueRange.upperBound
            let rest = held.getSlice(at: restStart, length: held.writerIndex - restStart)!
            switch detector.inspect(rest) {
            case .clean:
                break
            case .duplicateModel:
                self.respondAfterBody(.duplicateMultipartModel)
                return
            case .malformed:
                self.respondAfterBody(.invalidMultipart("The multipart request body is malformed."))
                return
            }
            guard let (model, endpoint) = self.resolve(model: field.model) else {
                self.bodyMode = self.requestEnded ? .none : .discarding
                return
            }
            // A streamed upload goes to one upstream, picked before its model name is written into the body.
            guard let index = self.pickUpstream(model: model.id, endpoint: endpoint, excluding: .empty) else {
                self.bodyMode = self.requestEnded ? .none : .discarding
                self.respondAfterBody(.noHealthyUpstream(model: model.id, route: endpoint.path))
                return
            }
            let targetModelName = endpoint.upstreams[index].targetModelName
            var prefix = ByteBuffer()
            prefix.writeImmutableBuffer(held.getSlice(at: held.readerIndex, length: field.valueRange.lowerBound)!)
            prefix.writeString(targetModelName)
            prefix.writeImmutableBuffer(rest)
            let delta = targetModelName.utf8.count - field.valueRange.count
            let contentLength = self.head.headers.contains(name: "content-length")
                ? self.declaredLength.map { $0 + delta } : nil
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
            self.forward(
                Forwarding(
                    model: model, endpoint: endpoint, method: .POST,
                    payload: .streamed(body, contentLength: contentLength)
                ),
                startingWith: index
            )
        }
    }

    /// Answers an error before (or instead of) any upstream answer.
    ///
    /// With the body complete, at once. Otherwise the rest of the body decides: a small rest (at most
    /// `maxDiscardedBodySize`, by its declared length) is read and dropped first, so the connection stays usable;
    /// a larger or unknown rest is not read at all — the answer goes out now with `Connection: close`, and the
    /// connection lingers briefly so the client can read it (see `ProxyConnectionHandler`). A rejected request
    /// must never make the worker read (or wait for) a body of any size.
    func respondAfterBody(_ error: OpenAIError) {
        if self.requestEnded {
            self.respond(error: error)
        } else if self.expectsContinue && !self.continueSent {
            // The client waits for a 100 before sending its body: answer now instead of making it time out, and
            // close, since it may or may not send the body anyway (RFC 9110 §10.1.1).
            self.respond(error: error, close: true)
        } else if let declared = self.declaredLength,
            declared - self.record.bytesIn <= self.engine.configuration.maxDiscardedBodySize
        {
            self.pendingError = error
            self.bodyMode = .discarding
        } else {
            self.bodyMode = .discarding
            self.respond(error: error, close: true)
        }
    }

    /// The most body bytes this request may send: the configured limit for routes that forward a body, a small
    /// one for routes that take none (their body is only read and dropped).
    private var bodyLimit: Int {
        if case .forward = self.route {
            return self.engine.configuration.maxBodySize
        }
        return self.engine.configuration.maxDiscardedBodySize
    }

    private func rejectOversizedBody() {
        // Answer at once and close: reading (and discarding) the rest of a huge upload helps nobody.
        let error = self.pendingError ?? .bodyTooLarge(limit: self.bodyLimit)
        self.abortUpload(answering: error)
    }

    /// Stops a request whose body is still arriving: the streamed upload and its upstream call are abandoned (so
    /// the upstream never sees a complete body) and `error` is answered at once, closing the connection.
    func abortUpload(answering error: OpenAIError) {
        self.bodyMode = .discarding
        let task = self.task
        self.task = nil
        if self.responseHeadWritten {
            self.record.error = self.record.error ?? error.code
            self.finish(close: true)
        } else {
            self.respond(error: error, close: true)
        }
        // After the answer: a call failed synchronously reports back into a finished exchange, which ignores it.
        self.upload?.fail(ClientDisconnectedError())
        task?.fail(reason: ClientDisconnectedError())
    }

    /// The client sent part of its body, then nothing for `bodyTimeout` (`ProxyConnectionHandler` keeps that clock).
    func bodyTimedOut() {
        guard !self.finished else { return }
        let timeout = self.engine.configuration.bodyTimeout
        self.abortUpload(answering: .bodyTimeout(seconds: Double(timeout.nanoseconds) / 1_000_000_000))
    }

    /// The body length a request head announces (RFC 9112 §6.3): `Content-Length`'s value, nil for a chunked body
    /// (unknown until it ends), 0 for neither. Digits beyond `Int.max` (2^63 - 1) count as `Int.max`, so that the
    /// size check refuses them rather than letting them through as "no length".
    static func declaredBodyLength(_ headers: HTTPHeaders) -> Int? {
        guard let value = headers.first(name: "content-length") else {
            return headers.contains(name: "transfer-encoding") ? nil : 0
        }
        if let length = Int(value) {
            return length
        }
        return value.utf8.allSatisfy { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") } ? Int.max : 0
    }

    /// Finds the model and its endpoint for this route, answering the error itself when there is none.
    private func resolve(model id: String) -> (ModelConfig, EndpointConfig)? {
        guard case .forward(let path) = self.route else { return nil }
        self.record.model = id
        guard self.clientMayUse(id), let model = self.engine.snapshot.model(id) else {
            self.respondAfterBody(.modelNotFound(id))
            return nil
        }
        guard let endpoint = model.endpoint(for: path) else {
            self.respondAfterBody(.routeNotServed(model: id, route: path))
            return nil
        }
        return (model, endpoint)
    }

    // MARK: Answering locally

    func respond(status: HTTPResponseStatus, json body: ByteBuffer) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/json")
        headers.add(name: "Content-Length", value: String(body.readableBytes))
        self.record.status = status.code
        self.writeWhole(head: self.makeResponseHead(status: status, headers: headers), body: body, close: false)
    }

    func respond(error: OpenAIError, close: Bool = false) {
        guard !self.finished else { return }
        let body = error.body(allocator: self.context.channel.allocator)
        let head = self.makeResponseHead(status: error.status, headers: error.headers(forBody: body), close: close)
        self.record.status = error.status.code
        self.record.error = self.record.error ?? error.code
        self.writeWhole(head: head, body: body, close: close)
    }

    func writeWhole(head: HTTPResponseHead, body: ByteBuffer, close: Bool) {
        guard !self.finished else { return }
        self.responseHeadWritten = true
        self.context.write(NIOAny(HTTPServerResponsePart.head(head)), promise: nil)
        if !self.isHead {
            self.record.bytesOut += body.readableBytes
            self.context.write(NIOAny(HTTPServerResponsePart.body(.byteBuffer(body))), promise: nil)
        }
        let lastWrite = self.context.writeAndFlush(NIOAny(HTTPServerResponsePart.end(nil)))
        self.finish(close: close || !self.keepAlive, after: lastWrite)
    }

    func makeResponseHead(status: HTTPResponseStatus, headers: HTTPHeaders, close: Bool = false) -> HTTPResponseHead {
        var headers = headers
        if close || !self.keepAlive {
            headers.replaceOrAdd(name: "Connection", value: "close")
        }
        return HTTPResponseHead(version: self.head.version, status: status, headers: headers)
    }

    func finish(close: Bool, after lastWrite: EventLoopFuture<Void>? = nil) {
        guard !self.finished else { return }
        self.finished = true
        self.upstreamDeadline = nil
        self.record.finishedAt = .now()
        if let forwarding = self.forwarding {
            self.record.attempts = forwarding.attempts
            self.record.attemptErrors = forwarding.failures
        }
        if let usage = self.usageScanner?.usage {
            self.record.promptTokens = usage.prompt
            self.record.completionTokens = usage.completion
        }
        self.engine.accessLog.write(self.record)
        let modelIsConfigured =
            self.forwarding != nil || self.record.model.map { self.engine.snapshot.model($0) != nil } ?? false
        self.engine.metrics.requestFinished(self.record, modelIsConfigured: modelIsConfigured)
        // A request whose body is still arriving cannot share the connection with the next one.
        self.owner?.exchangeFinished(
            close: close || !self.requestEnded && !self.isDiscardingQuietly,
            after: lastWrite
        )
    }

    /// An early answer is fine on a keep-alive connection only if the rest of the body is read and dropped.
    private var isDiscardingQuietly: Bool {
        if case .discarding = self.bodyMode, self.record.status != 413 { return true }
        return false
    }
}
