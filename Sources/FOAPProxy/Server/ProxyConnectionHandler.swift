import FOAPHTTP1
import NIOCore
import NIOHTTP1

/// Owns one client connection: parses its bytes into requests (`HTTPRequestParser`), turns them into
/// `ProxyExchange`s, one at a time, and applies read backpressure for uploads and pipelined requests.
///
/// The parser runs here, not in a decoder of its own: NIO's `ByteToMessageHandler<HTTPRequestDecoder>` (llhttp's
/// callbacks, its buffers) and a pipeline hop with an `NIOAny` cast per part cost ~13,500 instructions per request in
/// bench/profile. What the parser accepts and refuses is held to llhttp on a shared corpus (`HTTPParserCorpusTests`).
///
/// Pipelining is handled here rather than by NIO's `HTTPServerPipelineHandler`: that handler holds the client's
/// reads for as long as any response is pending, which is every request of a proxy, so NIO dropped and re-added
/// the socket's read interest (two `epoll_ctl` calls) per request. Here reads are held only once a pipelined
/// request has actually arrived behind an unfinished one; its parts wait in order and are delivered when the
/// previous exchange is done (bench/profile: -3.9 % instructions per request, and the two syscalls gone).
final class ProxyConnectionHandler: ChannelDuplexHandler, RemovableChannelHandler, ExchangeOwner {
    typealias InboundIn = ByteBuffer
    /// Answers are encoded by `output` and reach this handler's context as bytes; nothing writes through it.
    typealias OutboundIn = IOData
    typealias OutboundOut = IOData

    private let engine: ProxyEngine
    /// In a cell (see `LoopBoundCell`): parsing calls into another module, which kept a runtime exclusivity check on
    /// every access to it as a stored property.
    private let parserCell = LoopBoundCell(HTTPRequestParser())
    private var parser: HTTPRequestParser {
        @inline(__always) _read { yield self.parserCell.value }
        @inline(__always) _modify { yield &self.parserCell.value }
    }
    /// Bytes read and not parsed yet (a head still incomplete, or a pipelined request's).
    private var unparsed: ByteBuffer?
    private var exchange: ProxyExchange?
    private var context: ChannelHandlerContext?
    /// Where the connection's answers are encoded and written (set once the handler is in the pipeline).
    private var output: ResponseOutput?
    /// Upload backpressure from the exchange.
    private var readPaused = false
    /// NIO asked for a read while reads were held; issued when they no longer are.
    private var readPending = false
    /// Parts of requests that arrived while an earlier request was still being answered, in arrival order, each
    /// with whether the connection stays open after its request (the parser's reading of the head it belongs to).
    /// In a cell, as `parser` is.
    private var pipelined: CircularBuffer<(part: HTTPRequestParser.Part, keepsAlive: Bool)> {
        @inline(__always) _read { yield self.pipelinedCell.value }
        @inline(__always) _modify { yield &self.pipelinedCell.value }
    }
    private let pipelinedCell = LoopBoundCell(CircularBuffer<(part: HTTPRequestParser.Part, keepsAlive: Bool)>())
    /// Malformed HTTP arrived behind a request still being answered: answered with a 400 in its turn.
    private var protocolErrorPending = false
    /// Guards `deliverPipelined` against re-entry (an exchange can finish inside a delivery).
    private var deliveringPipelined = false
    /// The peer as access records name it; described on the first request, not on every one.
    private var client: String?
    /// The connection's one timer for the body and upstream deadlines, shared by its requests: moved, not
    /// rescheduled, per request (scheduling and cancelling one per request cost ~7,700 instructions in bench/profile).
    private var timeoutTimer: Scheduled<Void>?
    private var timeoutTimerDeadline: NIODeadline?
    /// By when the body of the request being read must make progress (`bodyTimeout` after the last read that
    /// brought some of it); nil while no body is awaited. Checked by the same timer as the upstream deadlines.
    private var bodyDeadline: NIODeadline?
    /// An early answer went out with `Connection: close` while the client was still sending: the output is shut
    /// down and whatever still arrives is dropped until the client closes or `lingerTimeout` passes.
    private var lingering = false
    private var lingerTimer: Scheduled<Void>?

    /// Keep-alive timeout and graceful drain (see `ConnectionDrain`).
    let drain: ConnectionDrain

    init(engine: ProxyEngine) {
        self.engine = engine
        self.drain = ConnectionDrain(
            idleGrace: engine.configuration.drainIdleGrace,
            keepAliveTimeout: engine.configuration.keepAliveTimeout
        )
    }

    deinit {
        self.parserCell.free()
        self.pipelinedCell.free()
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        self.output = ResponseOutput(
            context: context, buffers: self.engine.buffers(for: context.eventLoop),
            flushBatch: self.engine.flushBatch(for: context.eventLoop))
        if context.channel.isActive {
            self.drain.connectionActive(context: context)
        }
    }

    func channelActive(context: ChannelHandlerContext) {
        self.drain.connectionActive(context: context)
        context.fireChannelActive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard event is ChannelShouldQuiesceEvent else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        self.drain.quiesce(context: context)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        self.cancelTimeoutTimer()
        self.lingerTimer?.cancel()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // Parsed from a local buffer, taken from `unparsed` and put back once: each access to the stored property
        // paid an exclusivity check (~8 per request). Owned here while parsing: no copy-on-write when a body slice is
        // taken.
        var buffer = self.unwrapInboundIn(data)
        if var held = self.unparsed.take() {
            held.writeBuffer(&buffer)
            buffer = held
        }
        while let part = self.nextPart(from: &buffer, context: context) {
            self.received(part, keepsAlive: self.parser.keepsAlive, context: context)
        }
        // After an upgrade the bytes are not HTTP, after a refusal they cannot be trusted: dropped (as NIO's decoder
        // did with `.dropBytes`), not held while the answer goes out and the connection closes.
        if buffer.readableBytes > 0, !self.parser.hasStopped {
            self.unparsed = buffer
        }
    }

    /// The next request part in `buffer`, or nil when more bytes are needed; malformed HTTP is answered
    /// (`errorCaught`).
    private func nextPart(from buffer: inout ByteBuffer, context: ChannelHandlerContext) -> HTTPRequestParser.Part? {
        do {
            return try self.parser.nextPart(from: &buffer) ?? self.parser.pendingEnd()
        } catch {
            buffer.clear()
            self.errorCaught(context: context, error: error)
            return nil
        }
    }

    private func received(_ part: HTTPRequestParser.Part, keepsAlive: Bool, context: ChannelHandlerContext) {
        if case .head = part {
            self.drain.requestArrived()
        }
        if self.lingering {
            return
        }
        if !self.pipelined.isEmpty || self.protocolErrorPending {
            self.pipelined.append((part, keepsAlive))
            return
        }
        if case .head = part, self.exchange != nil {
            // A pipelined request behind one still being answered: it waits, and so do further reads.
            self.pipelined.append((part, keepsAlive))
            return
        }
        self.deliver(part, keepsAlive: keepsAlive, context: context)
    }

    private func deliver(_ part: HTTPRequestParser.Part, keepsAlive: Bool, context: ChannelHandlerContext) {
        switch part {
        case .head(let head):
            guard let output = self.output else { return }
            let client = self.client ?? AccessRecord.describe(context.channel.remoteAddress)
            self.client = client
            self.bodyDeadline = nil
            output.requestRead(head.method)
            let exchange = ProxyExchange(
                engine: self.engine, context: context, output: output, owner: self, drain: self.drain, head: head,
                client: client, clientKeepsAlive: keepsAlive)
            self.exchange = exchange
            exchange.start()
        case .body(let buffer):
            self.exchange?.receiveBody(buffer)
        case .end:
            guard let exchange = self.exchange else { return }
            exchange.receiveEnd()
            if exchange.finished {
                self.exchange = nil
            }
        }
    }

    /// Delivers the pipelined parts whose turn has come: everything up to the next request head while an exchange
    /// is still unfinished.
    private func deliverPipelined() {
        guard !self.deliveringPipelined, let context = self.context else { return }
        self.deliveringPipelined = true
        defer { self.deliveringPipelined = false }
        while let next = self.pipelined.first {
            if case .head = next.part, self.exchange != nil {
                return
            }
            self.pipelined.removeFirst()
            self.deliver(next.part, keepsAlive: next.keepsAlive, context: context)
        }
        self.answerProtocolErrorIfItsTurn(context: context)
        self.noteBodyProgress()
        self.resumeReadingIfAllowed()
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        self.noteBodyProgress()
        context.fireChannelReadComplete()
    }

    /// Body bytes may just have arrived: while the current request's body is incomplete, it now has `bodyTimeout`
    /// to send more. Nothing is scheduled for a request that arrived whole in one read (most of them).
    private func noteBodyProgress() {
        guard let exchange = self.exchange, !exchange.requestEnded, !exchange.finished, let context = self.context
        else { return }
        // The loop's clock (virtual in tests, `NIODeadline.now()` otherwise).
        let deadline = context.eventLoop.now + self.engine.configuration.bodyTimeout
        self.bodyDeadline = deadline
        self.exchangeNeedsTimeoutCheck(by: deadline)
    }

    /// Times out a body that stopped arriving; returns when to look again, if a body is still awaited.
    private func checkBodyDeadline(now: NIODeadline) -> NIODeadline? {
        guard let deadline = self.bodyDeadline, let exchange = self.exchange, !exchange.requestEnded,
            !exchange.finished
        else {
            self.bodyDeadline = nil
            return nil
        }
        if self.readPaused {
            // The proxy holds the client's reads (upload backpressure): the silence is not the client's.
            let next = now + self.engine.configuration.bodyTimeout
            self.bodyDeadline = next
            return next
        }
        if deadline > now {
            return deadline
        }
        self.bodyDeadline = nil
        exchange.bodyTimedOut()
        return nil
    }

    private func resumeReadingIfAllowed() {
        guard self.readPending, !self.readPaused, self.pipelined.isEmpty, !self.protocolErrorPending,
            let context = self.context
        else { return }
        self.readPending = false
        context.read()
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.output?.connectionClosed()
        self.pipelined.removeAll()
        self.exchange?.clientClosed()
        self.exchange = nil
        self.cancelTimeoutTimer()
        self.lingerTimer?.cancel()
        self.lingerTimer = nil
        self.drain.connectionInactive()
        context.fireChannelInactive()
    }

    /// Malformed HTTP is answered with an OpenAI-shaped 400 (unless a response is already under way) and the
    /// connection closed: after a parse error the byte stream cannot be trusted to find the next request. NIO's
    /// `HTTPServerProtocolErrorHandler` does the same with an empty body; doing it here, not in a handler of its
    /// own, saves a pipeline hop for every request part and every write. Any other error ends the connection.
    func errorCaught(context: ChannelHandlerContext, error: Error) {
        guard error is HTTPParserError, !self.lingering else {
            context.close(promise: nil)
            return
        }
        self.protocolErrorPending = true
        self.answerProtocolErrorIfItsTurn(context: context)
    }

    /// The garbage is answered once every complete request before it has been: a request still being answered
    /// finishes first, in order. Garbage inside the request being received ends that request at once.
    private func answerProtocolErrorIfItsTurn(context: ChannelHandlerContext) {
        guard self.protocolErrorPending, self.pipelined.isEmpty else { return }
        if let exchange = self.exchange, exchange.requestEnded {
            return  // its response is still being written; exchangeFinished brings us back
        }
        self.protocolErrorPending = false
        if let exchange = self.exchange, exchange.responseHeadWritten, !exchange.finished {
            context.close(promise: nil)  // a response is under way: cutting it is the only signal left
        } else {
            self.answerMalformedHTTP(context: context)
        }
    }

    private func answerMalformedHTTP(context: ChannelHandlerContext) {
        guard let output = self.output else { return }
        let failure = OpenAIError.malformedHTTP
        let body = failure.body(allocator: context.channel.allocator)
        var headers = failure.headers(forBody: body)
        headers.add(name: "Connection", value: "close")
        var head = HTTPResponseHead(version: .http1_1, status: .badRequest, headers: headers)
        self.drain.prepare(&head)
        output.write(.head(head), promise: nil)
        output.write(.body(.byteBuffer(body)), promise: nil)
        let written = context.eventLoop.makePromise(of: Void.self)
        self.drain.writeEnd(output: output, context: context, promise: written)
        written.futureResult.assumeIsolated().whenComplete { _ in
            context.close(promise: nil)
        }
    }

    func read(context: ChannelHandlerContext) {
        if !self.lingering && (self.readPaused || !self.pipelined.isEmpty || self.protocolErrorPending) {
            self.readPending = true
        } else {
            context.read()
        }
    }

    // MARK: ExchangeOwner

    func exchange(setReadPaused paused: Bool) {
        guard paused != self.readPaused else { return }
        self.readPaused = paused
        if !paused {
            self.resumeReadingIfAllowed()
        }
    }

    func exchangeFinished(close: Bool, after lastWrite: EventLoopFuture<Void>?) {
        if close, let exchange = self.exchange, !exchange.requestEnded, let context = self.context {
            // Answered before the client finished sending (a refusal, a timeout, a 413): the rest is not read.
            self.lingerThenClose(context: context)
            return
        }
        if let exchange = self.exchange, exchange.requestEnded {
            self.exchange = nil
        }
        if close {
            // Nothing after this response is answered on this connection.
            self.pipelined.removeAll()
            self.protocolErrorPending = false
        }
        self.exchange(setReadPaused: false)
        if !close, self.exchange == nil {
            self.deliverPipelined()
        }
        guard close, let context = self.context else { return }
        if let lastWrite {
            // After the response's last write, so the answer reaches the client before the FIN.
            lastWrite.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
        } else {
            context.close(promise: nil)
        }
    }

    /// Closes after an answer sent while the client is still sending its body. Closing at once, with the client's
    /// bytes unread, makes the kernel reset the connection, and a reset can destroy the answer before the client
    /// has read it; so the output is shut down after the answer (the client sees its end) and the input is read
    /// and dropped for a short while (nginx's lingering close), then the connection closes for good.
    private func lingerThenClose(context: ChannelHandlerContext) {
        self.lingering = true
        self.exchange = nil
        self.pipelined.removeAll()
        self.protocolErrorPending = false
        self.bodyDeadline = nil
        self.readPaused = false
        // NIO shuts the output down once the pending writes (the answer) are written.
        context.close(mode: .output, promise: nil)
        self.lingerTimer = context.eventLoop.assumeIsolated().scheduleTask(
            in: self.engine.configuration.lingerTimeout
        ) {
            context.close(promise: nil)
        }
        if self.readPending {
            self.readPending = false
            context.read()
        }
    }

    func exchangeBecomesTunnel(_ handler: any ChannelHandler) throws {
        guard let context = self.context else { throw ChannelError.ioOnClosedChannel }
        let pipeline = context.pipeline.syncOperations
        // The 101 is in the channel already (written, not flushed): the tunnel's bytes follow it.
        self.output?.writeGathered()
        self.exchange = nil
        self.pipelined.removeAll()
        self.cancelTimeoutTimer()
        // Keep-alive and drain rules no longer apply: the tunnel lasts as long as its two ends.
        self.drain.connectionInactive()
        try pipeline.addHandler(handler)
        // The client sends no frame before it has read the 101, so the parser holds no bytes of the tunnel.
        pipeline.removeHandler(self, promise: nil)
    }

    func exchangeNeedsTimeoutCheck(by deadline: NIODeadline) {
        if let scheduled = self.timeoutTimerDeadline, scheduled <= deadline {
            return  // it fires first and asks the exchange again
        }
        self.cancelTimeoutTimer()
        self.scheduleTimeoutCheck(at: deadline)
    }

    private func scheduleTimeoutCheck(at deadline: NIODeadline) {
        guard let context = self.context else { return }
        self.timeoutTimerDeadline = deadline
        self.timeoutTimer = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { [weak self] in
            guard let self else { return }
            self.timeoutTimer = nil
            self.timeoutTimerDeadline = nil
            let now = context.eventLoop.now
            let bodyNext = self.checkBodyDeadline(now: now)
            let upstreamNext = self.exchange?.checkDeadlines(now: now)
            if let next = [bodyNext, upstreamNext].compactMap({ $0 }).min() {
                self.scheduleTimeoutCheck(at: next)
            }
        }
    }

    private func cancelTimeoutTimer() {
        self.timeoutTimer?.cancel()
        self.timeoutTimer = nil
        self.timeoutTimerDeadline = nil
    }
}

@available(*, unavailable)
extension ProxyConnectionHandler: Sendable {}
