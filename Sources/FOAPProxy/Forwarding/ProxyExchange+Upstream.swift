import AsyncHTTPClient
import FOAPConfig
import FOAPHTTP1
import NIOCore
import NIOHTTP1

/// The upstream side of an exchange: sending an attempt, and its answer arriving, part by part, into the machine.
extension ProxyExchange {
    /// What the upstream request carries.
    enum UpstreamBody {
        case none
        /// Held whole (rewritten JSON): replayable, so it may take the pooled plain-HTTP client.
        case whole(ByteBuffer)
        /// Streamed as the client sends it (multipart uploads): AsyncHTTPClient only.
        case streamed(HTTPClient.Body)

        var clientBody: HTTPClient.Body? {
            switch self {
            case .none: return nil
            case .whole(let buffer): return .byteBuffer(buffer)
            case .streamed(let streamed): return streamed
            }
        }
    }

    /// Sends attempt `index` of `self.upstreamRequest`: that upstream's URL, its model name in the body, its key.
    ///
    /// Plain-HTTP upstreams with a whole (or no) body go through this loop's `UpstreamPool` (a small NIO client,
    /// parts relayed straight between the two channels: about 40% of a proxied request's instructions were
    /// AsyncHTTPClient's in bench/profile); HTTPS upstreams and streamed uploads keep AsyncHTTPClient, which owns
    /// TLS, the CA bundle and request-body streaming.
    func sendAttempt(to index: Int) {
        guard let request = self.upstreamRequest else { return }
        let upstream = request.endpoint.upstreams[index]
        let model = request.model
        self.record.provider = upstream.provider ?? model.providerName
        self.record.targetModel = upstream.targetModelName
        self.record.upstream = upstream.baseURL
        let apiKey: String?
        switch model.credential(of: upstream) {
        case .none: apiKey = nil
        case .key(let key): apiKey = key
        case .missing(let variable):
            // Another upstream of a pool may have its key: this one is skipped like one that refused.
            if self.retryAfterFailure(UpstreamKeyMissingError()) {
                return
            }
            self.upload?.fail(ClientDisconnectedError())
            self.refuse(.credentialMissing(provider: upstream.provider ?? model.provider.name, variable: variable))
            return
        }
        let (body, contentLength) = self.upstreamBody(for: upstream, of: request)
        let query = HeaderPolicy.upstreamQuery(of: self.head.uri)
        let authHeader = model.authHeader(of: upstream)
        let attempt = self.machine.attemptStarted(now: .now(), timeouts: request.attemptTimeouts)
        self.callAttempt = attempt
        self.askForTimeoutCheck()
        let pooled: PooledUpstreamCall?
        switch body {
        case .none, .whole:
            let whole: ByteBuffer?
            if case .whole(let buffer) = body { whole = buffer } else { whole = nil }
            pooled = self.pooledCall(upstream: index, query: query, body: whole, attempt: attempt) { hostLine in
                HeaderPolicy.upstreamAddedFields(
                    apiKey: apiKey, contentLength: contentLength, authHeader: authHeader, hostLine: hostLine)
            }
        case .streamed: pooled = nil
        }
        if let pooled {
            self.call = pooled
            pooled.start()
            return
        }
        let headers = HeaderPolicy.upstreamHeaders(
            from: self.head.headers, apiKey: apiKey, contentLength: contentLength, authHeader: authHeader)
        let base = request.endpoint.upstreamURL(index)
        let url = request.urlSuffix.isEmpty ? base : base + request.urlSuffix
        let client: HTTPClient.Request
        do {
            if request.method.isPOST, query == nil {
                client = try self.engine.requestTemplates.post(url: url, headers: headers, body: body.clientBody)
            } else {
                let target = query.map { url + $0 } ?? url
                client = try HTTPClient.Request(
                    url: target, method: request.method, headers: headers, body: body.clientBody)
            }
        } catch {
            self.callAttempt = .none
            _ = self.machine.upstreamFailed(attempt: attempt)
            self.attemptEndedWithoutAnswer()
            self.refuse(.upstreamFailed(model: self.record.model ?? "-"))
            return
        }
        // `.delegate(on:)`, not `.delegateAndChannel(on:)`: AsyncHTTPClient closes a connection it opened for a
        // required event loop as soon as it is released, so pinning the channel cost a new upstream TCP connection
        // per request (bench/profile: 339 connections for 343 requests). The pool still prefers an idle connection
        // on this loop, and with one loop per worker (the default) it is the same thread anyway.
        let loop = HTTPClient.EventLoopPreference.delegate(on: self.context.eventLoop)
        self.call = self.engine.client.execute(
            request: client, delegate: self, eventLoop: loop, deadline: nil, logger: self.engine.upstreamLogger)
    }

    /// Request bodies up to this size are copied behind their head (one buffer, one write); larger ones are written
    /// as they are, after it, without a second copy of the body held for the call's life.
    static let copiedRequestBodyLimit = 16 * 1024

    /// The call over this loop's pool of plain-HTTP connections, when the upstream is plain HTTP. The request is
    /// encoded once, here, straight from the client's fields (those that cross), then the fields `added` makes with
    /// the upstream's `Host` line.
    private func pooledCall(
        upstream index: Int, query: Substring?, body: ByteBuffer?, attempt: ExchangeStateMachine.AttemptID,
        adding added: (_ hostLine: [UInt8]) -> HTTPAddedFields
    ) -> PooledUpstreamCall? {
        guard let request = self.upstreamRequest, let pool = self.engine.upstreamPool(for: self.context.eventLoop),
            let target = self.engine.requestTemplates.plainTarget(
                endpoint: request.endpoint, upstream: index, suffix: request.urlSuffix)
        else { return nil }
        let fields = HeaderPolicy.upstreamFields(from: self.head.fields)
        // A large body is not copied behind the head: it is sent as it is, after it (it always has a length here).
        let separateBody = body.flatMap { $0.readableBytes > Self.copiedRequestBodyLimit ? $0 : nil }
        let copiedBody = separateBody == nil ? body : nil
        var bytes = self.output.takeBuffer(capacity: 1024 + (copiedBody?.readableBytes ?? 0))
        HTTPRequestWriter.request(
            method: request.method, uri: query.map { target.path + $0 } ?? target.path, version: .http1_1,
            fields: fields, adding: added(target.hostLine), body: copiedBody, into: &bytes)
        if let copiedBody, !Self.isClientsBody(copiedBody, of: request) {
            // Copied behind the head: the rewritten body's buffer can serve the next request.
            self.output.buffers?.recycle(copiedBody)
        }
        return PooledUpstreamCall(
            pool: pool, target: target, method: request.method, request: bytes, separateBody: separateBody,
            buffers: self.output.buffers, sink: self, attempt: attempt)
    }

    /// Whether `body` is the client's own body (its model name needed no rewrite): that buffer may be a slice of the
    /// connection's read buffer, which is not the recycler's to keep (NIO reuses it when nothing else holds it).
    private static func isClientsBody(_ body: ByteBuffer, of request: UpstreamRequest) -> Bool {
        guard case .json(let original, _) = request.payload else { return false }
        return body.withVeryUnsafeBytes { $0.baseAddress } == original.withVeryUnsafeBytes { $0.baseAddress }
    }

    /// The one model rewrite step: the body as `upstream` must receive it, and its length.
    private func upstreamBody(for upstream: UpstreamConfig, of request: UpstreamRequest) -> (UpstreamBody, Int?) {
        switch request.payload {
        case .none:
            return (.none, nil)
        case .json(let original, let inspection):
            var source = original
            self.eventFilter = nil
            if request.endpoint.injectStreamUsage, self.traits.mayInjectStreamUsage,
                StreamUsageInjection.applies(to: inspection)
            {
                source = StreamUsageInjection.inject(into: original, closingBrace: inspection.closingBrace)
                self.eventFilter = StreamEventFilter([.dropUsageChunk])
            }
            let rewritten = JSONModelRewriter.rewrite(
                source, inspection: inspection, targetModel: upstream.targetModelName, into: self.output.takeBuffer)
            return (.whole(rewritten), rewritten.readableBytes)
        case .streamed(let streamed, let length):
            // Rewritten by MultipartModelRewriter for the upstream picked before the body was read.
            return (.streamed(streamed), length)
        }
    }

    /// The machine's deadline for the attempt in flight, to the connection's timer.
    func askForTimeoutCheck() {
        guard let deadline = self.machine.nextDeadline else { return }
        // The owner's timer fires by the deadline asked for last (and `checkDeadlines` then tells it the next one):
        // a later deadline needs no call through the weak owner (three per request, ~230 instructions each).
        if let asked = self.timeoutCheckAskedBy, asked <= deadline {
            return
        }
        self.timeoutCheckAskedBy = deadline
        self.owner?.exchangeNeedsTimeoutCheck(by: deadline)
    }

    /// The connection's timer fired: fails a silent attempt; returns when to look again, if an attempt is in flight.
    ///
    /// A relayed answer moves only as fast as the client reads it (backpressure holds the upstream), so a silence
    /// with answer bytes still waiting for the client is the client's: it is ended as such, not blamed on the
    /// upstream.
    func checkDeadlines(now: NIODeadline) -> NIODeadline? {
        // The timer that asked has fired: until this returns a deadline (kept below), none is asked for.
        self.timeoutCheckAskedBy = nil
        guard !self.finished else { return nil }
        let unsent = (try? self.context.channel.syncOptions?.getOption(.bufferedWritableBytes)) ?? 0
        switch self.machine.deadlinePassed(now: now, clientHasUnsentBytes: unsent > 0) {
        case .checkAgain(let deadline):
            self.timeoutCheckAskedBy = deadline
            return deadline
        case let action:
            self.perform(action)
            return nil
        }
    }
}

// MARK: The answer, as the upstream call delivers it

extension ProxyExchange: UpstreamResponseSink {
    func upstreamHead(_ head: HTTPReceivedResponseHead, attempt: ExchangeStateMachine.AttemptID) -> EventLoopFuture<Void>? {
        guard self.machine.mayGiveUp(attempt) else { return nil }
        let clientHead = self.makeResponseHead(
            status: head.status, headers: HTTPHeaders(), relaying: HeaderPolicy.downstreamFields(from: head.fields))
        return self.upstreamHead(clientHead, attempt: attempt)
    }

    /// AsyncHTTPClient's head (an HTTPS upstream), its fields already `String`s.
    func upstreamHead(_ head: HTTPResponseHead, attempt: ExchangeStateMachine.AttemptID) -> EventLoopFuture<Void>? {
        guard self.machine.mayGiveUp(attempt) else { return nil }
        let clientHead = self.makeResponseHead(
            status: head.status, headers: HeaderPolicy.downstreamHeaders(from: head.headers))
        return self.upstreamHead(clientHead, attempt: attempt)
    }

    /// The upstream's head, as the client would get it (its end-to-end fields, foap's own after them).
    ///
    /// `head` is consumed: the machine keeps it (moved, not copied with a retain of each of its references).
    private func upstreamHead(
        _ head: consuming ClientResponseHead, attempt: ExchangeStateMachine.AttemptID
    ) -> EventLoopFuture<Void>? {
        self.context.eventLoop.assertInEventLoop()
        if self.upstreamRequest?.isPooled == true, self.retryInsteadOfRelaying(head, attempt: attempt) {
            return nil
        }
        let isEventStream = head.first(name: "content-type", hasPrefix: "text/event-stream")
        let rewrites = self.traits.rewritesImageURLs
            || (self.traits.handsOutIDs && self.engine.idRouting != nil && !isEventStream)
        let bufferWhole = rewrites && head.first(name: "content-type")?.contains("json") == true
            && (200..<300).contains(head.status.code) && self.record.model != nil
        let holdForFirstByte = self.upstreamRequest?.endpoint.policy.firstByteTimeout != nil
        let status = head.status.code
        let hasContentLength = head.contains(name: "content-length")
        let action = self.machine.upstreamHeadReceived(
            consume head, attempt: attempt, bufferWhole: bufferWhole,
            holdForFirstByte: holdForFirstByte, now: .now())
        guard case .none = action else {
            self.perform(action)
            return nil
        }
        self.askForTimeoutCheck()
        self.record.upstreamStatus = status
        self.record.status = status
        self.record.firstByteAt = .now()
        if isEventStream {
            self.record.stream = true
        }
        if self.record.stream, !hasContentLength, self.traits.handsOutIDs,
            (200..<300).contains(status), let routing = self.engine.idRouting,
            let request = self.upstreamRequest, let upstream = request.lastUpstream
        {
            let tag = routing.tag(model: request.model, endpoint: request.endpoint, upstream: upstream)
            // Built in a local and stored once: no call inside an access to the property (see `noteAttemptError`).
            var filter = self.eventFilter.take() ?? StreamEventFilter([])
            filter.add(.tagIDs(tag: tag, trailer: routing.trailer))
            self.eventFilter = filter
        }
        if self.eventFilter != nil, !self.record.stream || hasContentLength {
            self.eventFilter = nil  // not a chunked event stream: relayed exactly as it comes
        }
        if (200..<300).contains(status), self.traits.reportsUsage {
            self.usageScanner = TokenUsageScanner()
        }
        return nil
    }

    /// A whole JSON answer as the client gets it: image URLs pointed at `/v1/images/data/…`, ids handed out with the
    /// trailer of the upstream that made them.
    private func rewrittenAnswer(_ held: ByteBuffer) -> ByteBuffer {
        if self.traits.rewritesImageURLs, let model = self.record.model {
            return self.engine.imageURLRewriter.rewrite(held, model: model) ?? held
        }
        if self.traits.handsOutIDs, let routing = self.engine.idRouting, let request = self.upstreamRequest,
            let upstream = request.lastUpstream
        {
            let tag = routing.tag(model: request.model, endpoint: request.endpoint, upstream: upstream)
            return IDFieldRewriter.tagOutbound(held, tag: tag, trailer: routing.trailer) ?? held
        }
        return held
    }

    func upstreamBodyPart(_ buffer: ByteBuffer, attempt: ExchangeStateMachine.AttemptID) -> EventLoopFuture<Void>? {
        self.context.eventLoop.assertInEventLoop()
        let action = self.machine.upstreamBodyReceived(
            buffer, attempt: attempt, imageLimit: self.engine.configuration.maxRewrittenResponseSize, now: .now())
        switch action {
        case .writeHeadAndBody(let head, let body):
            self.askForTimeoutCheck()
            self.writeHead(head)
            return self.relay(body)
        case .writeBody(let body):
            self.askForTimeoutCheck()
            return self.relay(body)
        default:
            self.askForTimeoutCheck()
            return nil
        }
    }

    /// Writes answer bytes to the client (not for HEAD), reading `usage` and dropping an injected usage chunk.
    private func relay(_ buffer: ByteBuffer) -> EventLoopFuture<Void>? {
        if self.isHead {
            return nil
        }
        self.scanUsage(in: buffer)
        var kept = buffer
        if var filter = self.eventFilter {
            self.eventFilter = nil
            kept = filter.filter(buffer)
            self.eventFilter = filter
            guard kept.readableBytes > 0 else { return nil }
        }
        self.record.bytesOut += kept.readableBytes
        return self.output.write(.body(.byteBuffer(kept)))
    }

    func upstreamReadComplete(attempt: ExchangeStateMachine.AttemptID) {
        guard !self.finished else { return }
        if case .writeHead(let head) = self.machine.upstreamReadCompleted(attempt: attempt) {
            self.writeHead(head)
        }
        self.output.flush()
    }

    func upstreamEnd(attempt: ExchangeStateMachine.AttemptID) {
        self.context.eventLoop.assertInEventLoop()
        let action = self.machine.upstreamEnded(attempt: attempt)
        switch action {
        case .writeEnd(let head):
            self.detachCall()
            self.attemptCompleted()
            if let head {
                self.writeHead(head)
            }
            if var filter = self.eventFilter, let rest = filter.finish(), !self.isHead {
                self.eventFilter = nil
                self.record.bytesOut += rest.readableBytes
                self.output.write(.body(.byteBuffer(rest)), promise: nil)
            }
            self.finish(close: !self.keepAlive, after: self.writeEnd(closing: !self.keepAlive))
        case .writeBuffered(var head, let held):
            self.detachCall()
            self.attemptCompleted()
            self.scanUsage(in: held)
            let body = self.rewrittenAnswer(held)
            head.setContentLength(body.readableBytes)
            self.record.status = head.status.code
            self.writeWhole(head: head, body: body, close: false)
        default:
            break
        }
    }

    func upstreamFailed(_ error: Error, attempt: ExchangeStateMachine.AttemptID) {
        self.context.eventLoop.assertInEventLoop()
        let action = self.machine.upstreamFailed(attempt: attempt)
        switch action {
        case .attemptFailedBeforeAnswer:
            self.detachCall()
            if self.retryAfterFailure(error) {
                return
            }
            self.upload?.fail(error)
            self.answerFailure(error)
        case .cutConnection:
            self.detachCall()
            // The verdict for a pool's balancer and the record; no retry once bytes were relayed.
            _ = self.retryAfterFailure(error)
            self.upload?.fail(error)
            self.cutAfterFailure(error)
        default:
            // A stale attempt's, or one the exchange itself stopped: the exchange has moved on.
            if attempt == self.callAttempt {
                self.detachCall()
            }
        }
    }

    /// The attempt failed before any byte reached the client and no other upstream is left: a 502/504.
    private func answerFailure(_ error: Error) {
        let upstream = self.record.upstream ?? "-"
        let timeout = Double(self.machine.currentTimeout.nanoseconds) / 1_000_000_000
        let model = self.record.model ?? "-"
        var failure = UpstreamFailure.openAIError(for: error, model: model, timeout: timeout)
        if self.upstreamRequest?.pinned == true, failure.status.code != 504 {
            // The state the id refers to is on that box only: another upstream cannot answer, later this one may.
            failure = .pinnedUpstreamUnavailable(model: model)
        }
        self.record.error = failure.code.rawValue
        self.engine.logger.warning(
            "upstream request failed",
            metadata: [
                "model": .string(LoggedValue.capped(self.record.model ?? "-")), "upstream": .string(upstream),
                "error": .string(failure.code.rawValue), "detail": .string(String(describing: error)),
            ]
        )
        self.refuse(failure)
    }

    /// The answer failed after bytes of it reached the client: the status is gone already; cutting the connection
    /// is the only honest signal left.
    private func cutAfterFailure(_ error: Error) {
        if error is ClientStalledError {
            self.record.error = "client_stalled"
            self.engine.logger.info(
                "client stopped reading the answer; connection closed",
                metadata: [
                    "model": .string(LoggedValue.capped(self.record.model ?? "-")),
                    "bytes_sent": .stringConvertible(self.record.bytesOut),
                ]
            )
        } else {
            self.record.error = error is UpstreamTimeoutError ? "stream_timeout" : "stream_cut"
            self.engine.logger.error(
                "upstream stream failed after the response started; connection cut",
                metadata: [
                    "model": .string(LoggedValue.capped(self.record.model ?? "-")),
                    "upstream": .string(self.record.upstream ?? "-"),
                    "bytes_sent": .stringConvertible(self.record.bytesOut),
                    "detail": .string(String(describing: error)),
                ]
            )
        }
        // What was relayed so far goes out before the close (an unflushed head would otherwise be dropped, and the
        // client would see an empty reply where the record says the status it was sent).
        self.output.flush()
        self.finish(close: true)
    }
}

// MARK: AsyncHTTPClient's callbacks

// `@unchecked Sendable`: AsyncHTTPClient requires delegates to be Sendable, but this one is loop-bound — the
// request runs with `.delegate(on:)` the client connection's loop, so every callback arrives there (asserted).
// Every attempt's task has the exchange as its delegate; a callback belongs to the attempt in flight only if its
// task is the exchange's current call, so an abandoned attempt's late callbacks (AsyncHTTPClient reports a
// cancelled task asynchronously) find nothing.
extension ProxyExchange: HTTPClientResponseDelegate, @unchecked Sendable {
    typealias Response = Void

    private func attempt(of task: HTTPClient.Task<Void>) -> ExchangeStateMachine.AttemptID {
        guard let call = self.call as? HTTPClient.Task<Void>, call === task else { return .none }
        return self.callAttempt
    }

    func didReceiveHead(task: HTTPClient.Task<Void>, _ head: HTTPResponseHead) -> EventLoopFuture<Void> {
        let attempt = self.attempt(of: task)
        let future = self.upstreamHead(head, attempt: attempt)
        // AsyncHTTPClient has no "end of read" signal to batch on: every part is its own read.
        self.upstreamReadComplete(attempt: attempt)
        return future ?? self.context.eventLoop.makeSucceededVoidFuture()
    }

    func didReceiveBodyPart(task: HTTPClient.Task<Void>, _ buffer: ByteBuffer) -> EventLoopFuture<Void> {
        let attempt = self.attempt(of: task)
        let future = self.upstreamBodyPart(buffer, attempt: attempt)
        self.upstreamReadComplete(attempt: attempt)
        return future ?? self.context.eventLoop.makeSucceededVoidFuture()
    }

    func didFinishRequest(task: HTTPClient.Task<Void>) throws {
        self.upstreamEnd(attempt: self.attempt(of: task))
    }

    func didReceiveError(task: HTTPClient.Task<Void>, _ error: Error) {
        self.upstreamFailed(error, attempt: self.attempt(of: task))
    }
}
