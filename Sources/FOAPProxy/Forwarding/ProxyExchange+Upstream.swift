import AsyncHTTPClient
import FOAPConfig
import NIOCore
import NIOHTTP1

// `@unchecked Sendable`: AsyncHTTPClient requires delegates to be Sendable, but this one is loop-bound — the
// request runs with `.delegate(on:)` the client connection's loop, so every callback arrives there (asserted).
// Its AsyncHTTPClient callbacks are `HTTPClientSink`'s (Upstream/UpstreamResponseSink.swift).
extension ProxyExchange: HTTPClientSink, @unchecked Sendable {
    typealias Response = Void

    /// What the upstream request carries.
    enum UpstreamBody {
        case none
        /// Held whole (rewritten JSON): replayable, so it may take the pooled plain-HTTP client.
        case whole(ByteBuffer)
        /// Streamed as the client sends it (multipart uploads): AsyncHTTPClient only.
        case streamed(HTTPClient.Body)

        var isStreamed: Bool {
            if case .streamed = self { return true }
            return false
        }

        var wholeBuffer: ByteBuffer? {
            if case .whole(let buffer) = self { return buffer }
            return nil
        }

        var clientBody: HTTPClient.Body? {
            switch self {
            case .none: return nil
            case .whole(let buffer): return .byteBuffer(buffer)
            case .streamed(let streamed): return streamed
            }
        }
    }

    /// Sends attempt `index` of `self.forwarding`: that upstream's URL, its model name in the body, its key; then
    /// starts the time-to-head timer.
    ///
    /// Plain-HTTP upstreams with a whole (or no) body go through this loop's `UpstreamPool` (a small NIO client,
    /// parts relayed straight between the two channels: about 40% of a proxied request's instructions were
    /// AsyncHTTPClient's in bench/profile); HTTPS upstreams and streamed uploads keep AsyncHTTPClient, which owns
    /// TLS, the CA bundle and request-body streaming.
    func sendAttempt(to index: Int) {
        guard let forwarding = self.forwarding else { return }
        let endpoint = forwarding.endpoint
        let upstream = endpoint.upstreams[index]
        let model = forwarding.model
        self.record.provider = upstream.provider ?? model.provider.name
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
            self.respondAfterBody(.credentialMissing(provider: upstream.provider ?? model.provider.name, variable: variable))
            return
        }
        let body: UpstreamBody
        var contentLength: Int?
        switch forwarding.payload {
        case .none:
            body = .none
        case .json(let original, let inspection):
            var source = original
            self.usageChunkFilter = nil
            if endpoint.injectStreamUsage, case .forward(let path) = self.route,
                StreamUsageInjection.applies(to: inspection, path: path)
            {
                source = StreamUsageInjection.inject(into: original, closingBrace: inspection.closingBrace)
                self.usageChunkFilter = UsageChunkFilter()
            }
            let rewritten = JSONModelRewriter.rewrite(source, inspection: inspection, targetModel: upstream.targetModelName)
            body = .whole(rewritten)
            contentLength = rewritten.readableBytes
        case .streamed(let streamed, let length):
            body = .streamed(streamed)
            contentLength = length
        }
        let base = endpoint.upstreamURL(index)
        let url = forwarding.urlSuffix.isEmpty ? base : base + forwarding.urlSuffix
        let attempt = forwarding.maximumAttempts > 1 ? UpstreamAttempt(exchange: self) : nil
        self.currentAttempt = attempt
        let sink: any UpstreamResponseSink = attempt ?? self
        let query = HeaderPolicy.upstreamQuery(of: self.head.uri)
        var headers = HeaderPolicy.upstreamHeaders(from: self.head.headers, apiKey: apiKey, contentLength: contentLength)
        if !body.isStreamed, let pool = self.engine.upstreamPool(for: self.context.eventLoop),
            let target = self.engine.requestTemplates.plainTarget(url: url)
        {
            headers.add(name: "Host", value: target.hostHeader)
            let path = query.map { target.path + $0 } ?? target.path
            let call = PooledUpstreamCall(
                pool: pool,
                target: target,
                head: HTTPRequestHead(version: .http1_1, method: forwarding.method, uri: path, headers: headers),
                body: body.wholeBuffer,
                sink: sink
            )
            self.armTimer()
            self.task = call
            call.start()
            return
        }
        let clientBody = body.clientBody
        let request: HTTPClient.Request
        do {
            if forwarding.method == .POST, query == nil {
                request = try self.engine.requestTemplates.post(url: url, headers: headers, body: clientBody)
            } else {
                let target = query.map { url + $0 } ?? url
                request = try HTTPClient.Request(url: target, method: forwarding.method, headers: headers, body: clientBody)
            }
        } catch {
            self.attemptEndedWithoutAnswer()
            self.respondAfterBody(.upstreamFailed(upstream.baseURL))
            return
        }
        self.armTimer()
        // `.delegate(on:)`, not `.delegateAndChannel(on:)`: AsyncHTTPClient closes a connection it opened for a
        // required event loop as soon as it is released, so pinning the channel cost a new upstream TCP connection
        // per request (bench/profile: 339 connections for 343 requests). The pool still prefers an idle connection
        // on this loop, and with one loop per worker (the default) it is the same thread anyway.
        let loop = HTTPClient.EventLoopPreference.delegate(on: self.context.eventLoop)
        if let attempt {
            self.task = self.engine.client.execute(
                request: request, delegate: attempt, eventLoop: loop, deadline: nil, logger: self.engine.upstreamLogger
            )
        } else {
            self.task = self.engine.client.execute(
                request: request, delegate: self, eventLoop: loop, deadline: nil, logger: self.engine.upstreamLogger
            )
        }
    }

    /// Moves the deadline that bounds the wait for the response head and, later, every gap between body bytes.
    ///
    /// The timer itself belongs to the connection (`ProxyConnectionHandler`): one per connection, not one per
    /// request or per event — scheduling and cancelling a timer per request cost ~7,700 instructions per small
    /// request in bench/profile. It fires at the earliest deadline it was asked for and calls
    /// `checkUpstreamTimeout`, which says when to look again if bytes arrived meanwhile.
    ///
    /// With `first_byte_timeout`, the wait for the first body byte is also bounded from the start of the attempt.
    func armTimer() {
        guard let forwarding = self.forwarding else { return }
        let endpoint = forwarding.endpoint
        var deadline = NIODeadline.now() + .nanoseconds(Int64(endpoint.requestTimeout * 1_000_000_000))
        if !forwarding.firstBodyByteSeen, let firstByte = endpoint.policy.firstByteTimeout {
            deadline = min(deadline, forwarding.attemptStartedAt + .nanoseconds(Int64(firstByte * 1_000_000_000)))
        }
        self.upstreamDeadline = deadline
        self.owner?.exchangeNeedsTimeoutCheck(by: deadline)
    }

    /// Fails the upstream call if its deadline has passed; returns the deadline to check again at, if any.
    ///
    /// A relayed answer moves only as fast as the client reads it (backpressure holds the upstream), so a silence
    /// with answer bytes still waiting for the client is the client's: it is ended as such, not blamed on the
    /// upstream.
    func checkUpstreamTimeout(now: NIODeadline) -> NIODeadline? {
        guard !self.finished, let task = self.task, let deadline = self.upstreamDeadline else { return nil }
        if deadline > now {
            return deadline
        }
        let unsent = (try? self.context.channel.syncOptions?.getOption(.bufferedWritableBytes)) ?? 0
        if self.responseHeadWritten, unsent > 0 {
            task.fail(reason: ClientStalledError())
        } else {
            task.fail(reason: UpstreamTimeoutError())
        }
        return nil
    }
}

// MARK: UpstreamResponseSink

extension ProxyExchange: UpstreamResponseSink {
    func upstreamHead(_ head: HTTPResponseHead, flush: Bool) -> EventLoopFuture<Void> {
        self.context.eventLoop.assertInEventLoop()
        guard !self.finished else { return self.context.eventLoop.makeSucceededVoidFuture() }
        if head.status.code < 200 {
            // Interim answers never get here (the decoders drop them); this is a 101 nobody asked for: the
            // connection would now speak another protocol.
            self.task?.fail(reason: UnsolicitedUpgradeError(status: head.status.code))
            return self.context.eventLoop.makeSucceededVoidFuture()
        }
        if self.isPooled, self.retryInsteadOfRelaying(head) {
            return self.context.eventLoop.makeSucceededVoidFuture()
        }
        self.armTimer()
        self.record.upstreamStatus = head.status.code
        self.record.firstByteAt = .now()
        let headers = HeaderPolicy.downstreamHeaders(from: head.headers)
        let contentType = head.headers.first(name: "content-type") ?? ""
        if contentType.hasPrefix("text/event-stream") {
            self.record.stream = true
        }
        if self.usageChunkFilter != nil, !self.record.stream || head.headers.contains(name: "content-length") {
            self.usageChunkFilter = nil  // not a chunked event stream: relayed exactly as it comes
        }
        if case .forward(let path) = self.route, path.hasPrefix("v1/images/"), contentType.contains("json"),
            (200..<300).contains(head.status.code), let model = self.record.model
        {
            let responseHead = self.makeResponseHead(status: head.status, headers: headers)
            self.bufferedResponse = BufferedResponse(head: responseHead, body: ByteBuffer(), model: model)
            return self.context.eventLoop.makeSucceededVoidFuture()
        }
        self.record.status = head.status.code
        if (200..<300).contains(head.status.code), case .forward(let path) = self.route, Self.reportsUsage(path) {
            self.usageScanner = TokenUsageScanner()
        }
        // The head is held, not written: until something is written, an answer that fails (bad framing in the
        // same read as the head) can still become a 502 instead of an empty reply the record calls a 200. It goes
        // out with the first body byte (a sized answer in one write with its body), at the end, or when the
        // upstream read that brought it is over (`upstreamFlush`). With `first_byte_timeout`, only with the first
        // body byte: a 200 head followed by silence (an overloaded server) can still fail over or become a 504.
        self.pendingHead = self.makeResponseHead(status: head.status, headers: headers)
        self.pendingHeadAwaitsFirstByte =
            self.forwarding.map { !$0.firstBodyByteSeen && $0.endpoint.policy.firstByteTimeout != nil } ?? false
        if flush {
            self.upstreamFlush()
        }
        return self.context.eventLoop.makeSucceededVoidFuture()
    }

    /// Writes the held head, if any: the answer's first byte follows it, or the read that brought it is over.
    private func writePendingHead() {
        guard let head = self.pendingHead else { return }
        self.pendingHead = nil
        self.responseHeadWritten = true
        self.context.write(NIOAny(HTTPServerResponsePart.head(head)), promise: nil)
    }

    func upstreamBodyPart(_ buffer: ByteBuffer, flush: Bool) -> EventLoopFuture<Void> {
        self.context.eventLoop.assertInEventLoop()
        guard !self.finished else { return self.context.eventLoop.makeSucceededVoidFuture() }
        self.forwarding?.firstBodyByteSeen = true
        self.armTimer()
        if var held = self.bufferedResponse {
            self.bufferedResponse = nil
            held.body.writeImmutableBuffer(buffer)
            if held.body.readableBytes <= self.engine.configuration.maxRewrittenResponseSize {
                self.bufferedResponse = held
                return self.context.eventLoop.makeSucceededVoidFuture()
            }
            // Too large to be a URL answer worth rewriting: pass it through as it is.
            self.responseHeadWritten = true
            self.record.status = held.head.status.code
            self.context.write(NIOAny(HTTPServerResponsePart.head(held.head)), promise: nil)
            self.record.bytesOut += held.body.readableBytes
            return self.write(.body(.byteBuffer(held.body)), flush: flush)
        }
        self.writePendingHead()
        if self.isHead {
            return self.context.eventLoop.makeSucceededVoidFuture()
        }
        self.usageScanner?.scan(buffer)
        if var filter = self.usageChunkFilter {
            self.usageChunkFilter = nil
            let kept = filter.filter(buffer)
            self.usageChunkFilter = filter
            self.record.bytesOut += kept.readableBytes
            guard kept.readableBytes > 0 else { return self.context.eventLoop.makeSucceededVoidFuture() }
            return self.write(.body(.byteBuffer(kept)), flush: flush)
        }
        self.record.bytesOut += buffer.readableBytes
        return self.write(.body(.byteBuffer(buffer)), flush: flush)
    }

    /// The routes whose answers carry `usage`.
    static func reportsUsage(_ path: String) -> Bool {
        path == "v1/chat/completions" || path == "v1/responses" || path == "v1/completions" || path == "v1/embeddings"
    }

    func upstreamFlush() {
        guard !self.finished else { return }
        if !self.pendingHeadAwaitsFirstByte {
            self.writePendingHead()
        }
        self.context.flush()
    }

    private func write(_ part: HTTPServerResponsePart, flush: Bool) -> EventLoopFuture<Void> {
        flush ? self.context.writeAndFlush(NIOAny(part)) : self.context.write(NIOAny(part))
    }

    func upstreamEnd() {
        self.context.eventLoop.assertInEventLoop()
        guard !self.finished else { return }
        self.task = nil
        self.attemptCompleted()
        if let held = self.bufferedResponse {
            self.bufferedResponse = nil
            let body = self.engine.imageURLRewriter.rewrite(held.body, model: held.model) ?? held.body
            var head = held.head
            head.headers.replaceOrAdd(name: "Content-Length", value: String(body.readableBytes))
            self.record.status = head.status.code
            self.writeWhole(head: head, body: body, close: false)
            return
        }
        self.writePendingHead()
        if var filter = self.usageChunkFilter, let rest = filter.finish() {
            self.usageChunkFilter = nil
            self.record.bytesOut += rest.readableBytes
            self.context.write(NIOAny(HTTPServerResponsePart.body(.byteBuffer(rest))), promise: nil)
        }
        let lastWrite = self.context.writeAndFlush(NIOAny(HTTPServerResponsePart.end(nil)))
        self.finish(close: !self.keepAlive, after: lastWrite)
    }

    func upstreamFailed(_ error: Error) {
        self.context.eventLoop.assertInEventLoop()
        self.task = nil
        if self.retryAfterFailure(error) {
            return
        }
        self.upload?.fail(error)
        guard !self.finished else { return }
        self.pendingHead = nil
        if error is ClientDisconnectedError {
            self.finish(close: true)
            return
        }
        if error is ClientStalledError {
            self.record.error = "client_stalled"
            self.engine.logger.info(
                "client stopped reading the answer; connection closed",
                metadata: [
                    "model": .string(LoggedValue.capped(self.record.model ?? "-")),
                    "bytes_sent": .stringConvertible(self.record.bytesOut),
                ]
            )
            self.finish(close: true)
            return
        }
        let failure = UpstreamFailure.openAIError(
            for: error,
            upstream: self.record.upstream ?? "-",
            timeout: self.forwarding?.currentTimeout ?? 0
        )
        if !self.responseHeadWritten {
            self.record.error = failure.code
            self.engine.logger.warning(
                "upstream request failed",
                metadata: [
                    "model": .string(LoggedValue.capped(self.record.model ?? "-")), "upstream": .string(self.record.upstream ?? "-"),
                    "error": .string(failure.code), "detail": .string(String(describing: error)),
                ]
            )
            self.respondAfterBody(failure)
            return
        }
        // Mid-stream: the status is gone already; cutting the connection is the only honest signal left.
        self.record.error = failure.code == "upstream_timeout" ? "stream_timeout" : "stream_cut"
        // What was relayed so far goes out before the close (an unflushed head would otherwise be dropped, and the
        // client would see an empty reply where the record says the status it was sent).
        self.context.flush()
        self.engine.logger.error(
            "upstream stream failed after the response started; connection cut",
            metadata: [
                "model": .string(LoggedValue.capped(self.record.model ?? "-")), "upstream": .string(self.record.upstream ?? "-"),
                "bytes_sent": .stringConvertible(self.record.bytesOut), "detail": .string(String(describing: error)),
            ]
        )
        self.finish(close: true)
    }
}
