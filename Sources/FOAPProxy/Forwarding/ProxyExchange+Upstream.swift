import AsyncHTTPClient
import FOAPConfig
import NIOCore
import NIOHTTP1

// `@unchecked Sendable`: AsyncHTTPClient requires delegates to be Sendable, but this one is loop-bound — the
// request runs with `.delegate(on:)` the client connection's loop, so every callback arrives there (asserted).
extension ProxyExchange: HTTPClientResponseDelegate, @unchecked Sendable {
    typealias Response = Void

    /// Sends the request upstream with the provider's key and starts the time-to-head timer.
    func startUpstream(
        model: ModelConfig,
        endpoint: EndpointConfig,
        method: HTTPMethod,
        url: String,
        body: HTTPClient.Body?,
        contentLength: Int? = nil
    ) {
        self.endpoint = endpoint
        self.record.provider = model.provider.name
        self.record.targetModel = endpoint.targetModelName
        self.record.upstream = endpoint.targetBaseURL
        let apiKey: String?
        switch model.provider.credential {
        case .none: apiKey = nil
        case .key(let key): apiKey = key
        case .missing(let variable):
            self.upload?.fail(ClientDisconnectedError())
            self.failBeforeUpstreamOrNow(.credentialMissing(provider: model.provider.name, variable: variable))
            return
        }
        let query = self.head.uri.firstIndex(of: "?")
        let headers = HeaderPolicy.upstreamHeaders(from: self.head.headers, apiKey: apiKey, contentLength: contentLength)
        let request: HTTPClient.Request
        do {
            if method == .POST, query == nil {
                request = try self.engine.requestTemplates.post(url: url, headers: headers, body: body)
            } else {
                let target = query.map { url + self.head.uri[$0...] } ?? url
                request = try HTTPClient.Request(url: target, method: method, headers: headers, body: body)
            }
        } catch {
            self.failBeforeUpstreamOrNow(.upstreamFailed(endpoint.targetBaseURL))
            return
        }
        self.record.upstreamStartedAt = .now()
        self.armTimer()
        // `.delegate(on:)`, not `.delegateAndChannel(on:)`: AsyncHTTPClient closes a connection it opened for a
        // required event loop as soon as it is released, so pinning the channel cost a new upstream TCP connection
        // per request (bench/profile: 339 connections for 343 requests). The pool still prefers an idle connection
        // on this loop, and with one loop per worker (the default) it is the same thread anyway.
        self.task = self.engine.client.execute(
            request: request,
            delegate: self,
            eventLoop: .delegate(on: self.context.eventLoop),
            deadline: nil,
            logger: self.engine.upstreamLogger
        )
    }

    private func failBeforeUpstreamOrNow(_ error: OpenAIError) {
        if self.requestEnded {
            self.respond(error: error)
        } else {
            self.respondAfterBody(error)
        }
    }

    /// Moves the deadline that bounds the wait for the response head and, later, every gap between body bytes.
    ///
    /// One timer per request, not one per event: rescheduling (cancel + schedule) on every body part cost ~17,000
    /// instructions per small request in bench/profile. The timer fires at the first deadline and, if bytes arrived
    /// meanwhile, sleeps again until the moved one.
    func armTimer() {
        guard let endpoint = self.endpoint else { return }
        let deadline = NIODeadline.now() + .nanoseconds(Int64(endpoint.requestTimeout * 1_000_000_000))
        self.upstreamDeadline = deadline
        if self.upstreamTimer == nil {
            self.scheduleTimer(at: deadline)
        }
    }

    private func scheduleTimer(at deadline: NIODeadline) {
        self.upstreamTimer = self.context.eventLoop.scheduleTask(deadline: deadline) { [weak self] in
            guard let self else { return }
            self.upstreamTimer = nil
            if let moved = self.upstreamDeadline, moved > .now() {
                self.scheduleTimer(at: moved)
                return
            }
            self.task?.fail(reason: UpstreamTimeoutError())
        }
    }

    // MARK: HTTPClientResponseDelegate

    func didReceiveHead(task: HTTPClient.Task<Void>, _ head: HTTPResponseHead) -> EventLoopFuture<Void> {
        self.context.eventLoop.assertInEventLoop()
        guard !self.finished else { return self.context.eventLoop.makeSucceededVoidFuture() }
        self.armTimer()
        self.record.upstreamStatus = head.status.code
        self.record.firstByteAt = .now()
        let headers = HeaderPolicy.downstreamHeaders(from: head.headers)
        let contentType = head.headers.first(name: "content-type") ?? ""
        if contentType.hasPrefix("text/event-stream") {
            self.record.stream = true
        }
        if case .forward(let path) = self.route, path.hasPrefix("v1/images/"), contentType.contains("json"),
            (200..<300).contains(head.status.code), let model = self.record.model
        {
            let responseHead = self.makeResponseHead(status: head.status, headers: headers)
            self.bufferedResponse = BufferedResponse(head: responseHead, body: ByteBuffer(), model: model)
            return self.context.eventLoop.makeSucceededVoidFuture()
        }
        self.responseHeadWritten = true
        self.record.status = head.status.code
        let responseHead = self.makeResponseHead(status: head.status, headers: headers)
        if head.headers.contains(name: "content-length") && !self.record.stream {
            // A sized answer: the head goes out with the body, in one write.
            self.context.write(NIOAny(HTTPServerResponsePart.head(responseHead)), promise: nil)
            return self.context.eventLoop.makeSucceededVoidFuture()
        }
        return self.context.writeAndFlush(NIOAny(HTTPServerResponsePart.head(responseHead)))
    }

    func didReceiveBodyPart(task: HTTPClient.Task<Void>, _ buffer: ByteBuffer) -> EventLoopFuture<Void> {
        self.context.eventLoop.assertInEventLoop()
        guard !self.finished else { return self.context.eventLoop.makeSucceededVoidFuture() }
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
            return self.context.writeAndFlush(NIOAny(HTTPServerResponsePart.body(.byteBuffer(held.body))))
        }
        self.record.bytesOut += buffer.readableBytes
        return self.context.writeAndFlush(NIOAny(HTTPServerResponsePart.body(.byteBuffer(buffer))))
    }

    func didFinishRequest(task: HTTPClient.Task<Void>) throws {
        self.context.eventLoop.assertInEventLoop()
        guard !self.finished else { return }
        self.task = nil
        if let held = self.bufferedResponse {
            self.bufferedResponse = nil
            let body = self.engine.imageURLRewriter.rewrite(held.body, model: held.model) ?? held.body
            var head = held.head
            head.headers.replaceOrAdd(name: "Content-Length", value: String(body.readableBytes))
            self.record.status = head.status.code
            self.writeWhole(head: head, body: body, close: false)
            return
        }
        let lastWrite = self.context.writeAndFlush(NIOAny(HTTPServerResponsePart.end(nil)))
        self.finish(close: !self.keepAlive, after: lastWrite)
    }

    func didReceiveError(task: HTTPClient.Task<Void>, _ error: Error) {
        self.context.eventLoop.assertInEventLoop()
        self.task = nil
        self.upload?.fail(error)
        guard !self.finished else { return }
        if error is ClientDisconnectedError {
            self.finish(close: true)
            return
        }
        let endpoint = self.endpoint
        let failure = UpstreamFailure.openAIError(
            for: error,
            upstream: endpoint?.targetBaseURL ?? "-",
            timeout: endpoint?.requestTimeout ?? 0
        )
        if !self.responseHeadWritten {
            self.record.error = failure.code
            self.engine.logger.warning(
                "upstream request failed",
                metadata: [
                    "model": .string(self.record.model ?? "-"), "upstream": .string(endpoint?.targetBaseURL ?? "-"),
                    "error": .string(failure.code), "detail": .string(String(describing: error)),
                ]
            )
            if self.requestEnded {
                self.respond(error: failure)
            } else {
                self.respondAfterBody(failure)
            }
            return
        }
        // Mid-stream: the status is gone already; cutting the connection is the only honest signal left.
        self.record.error = failure.code == "upstream_timeout" ? "stream_timeout" : "stream_cut"
        self.engine.logger.error(
            "upstream stream failed after the response started; connection cut",
            metadata: [
                "model": .string(self.record.model ?? "-"), "upstream": .string(endpoint?.targetBaseURL ?? "-"),
                "bytes_sent": .stringConvertible(self.record.bytesOut), "detail": .string(String(describing: error)),
            ]
        )
        self.finish(close: true)
    }
}
