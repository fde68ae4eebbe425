import NIOCore
import NIOHTTP1

/// Owns one client connection: turns request parts into `ProxyExchange`s, one at a time (NIO's pipelining
/// handler in front holds back a pipelined request until the previous response ended), and applies read
/// backpressure for uploads.
final class ProxyConnectionHandler: ChannelDuplexHandler, ExchangeOwner {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private let engine: ProxyEngine
    private var exchange: ProxyExchange?
    private var context: ChannelHandlerContext?
    private var readPaused = false
    private var readPending = false
    /// The peer as access records name it; described on the first request, not on every one.
    private var client: String?
    /// The connection's one upstream-timeout timer, shared by its requests (see `ProxyExchange.armTimer`).
    private var timeoutTimer: Scheduled<Void>?
    private var timeoutTimerDeadline: NIODeadline?

    init(engine: ProxyEngine) {
        self.engine = engine
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        self.cancelTimeoutTimer()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch self.unwrapInboundIn(data) {
        case .head(let head):
            let client = self.client ?? AccessRecord.describe(context.channel.remoteAddress)
            self.client = client
            let exchange = ProxyExchange(engine: self.engine, context: context, owner: self, head: head, client: client)
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

    func channelInactive(context: ChannelHandlerContext) {
        self.exchange?.clientClosed()
        self.exchange = nil
        self.cancelTimeoutTimer()
        context.fireChannelInactive()
    }

    /// Malformed HTTP is answered with an OpenAI-shaped 400 (unless a response is already under way) and the
    /// connection closed: after a parse error the byte stream cannot be trusted to find the next request. NIO's
    /// `HTTPServerProtocolErrorHandler` does the same with an empty body; doing it here, not in a handler of its
    /// own, saves a pipeline hop for every request part and every write. Any other error ends the connection.
    func errorCaught(context: ChannelHandlerContext, error: Error) {
        if error is HTTPParserError, !self.responseInProgress {
            let failure = OpenAIError.malformedHTTP
            let body = failure.body(allocator: context.channel.allocator)
            var headers = failure.headers(forBody: body)
            headers.add(name: "Connection", value: "close")
            let head = HTTPResponseHead(version: .http1_1, status: .badRequest, headers: headers)
            context.write(self.wrapOutboundOut(.head(head)), promise: nil)
            context.write(self.wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
            context.writeAndFlush(self.wrapOutboundOut(.end(nil)), promise: nil)
        }
        context.close(promise: nil)
    }

    /// Whether a response head went out whose end has not been written yet.
    private var responseInProgress: Bool {
        guard let exchange = self.exchange else { return false }
        return exchange.responseHeadWritten && !exchange.finished
    }

    func read(context: ChannelHandlerContext) {
        if self.readPaused {
            self.readPending = true
        } else {
            context.read()
        }
    }

    // MARK: ExchangeOwner

    func exchange(setReadPaused paused: Bool) {
        guard paused != self.readPaused else { return }
        self.readPaused = paused
        if !paused, self.readPending, let context = self.context {
            self.readPending = false
            context.read()
        }
    }

    func exchangeFinished(close: Bool, after lastWrite: EventLoopFuture<Void>?) {
        if let exchange = self.exchange, exchange.requestEnded {
            self.exchange = nil
        }
        self.exchange(setReadPaused: false)
        guard close, let context = self.context else { return }
        if let lastWrite {
            // After the response's last write, so the answer reaches the client before the FIN.
            lastWrite.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
        } else {
            context.close(promise: nil)
        }
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
            if let next = self.exchange?.checkUpstreamTimeout(now: .now()) {
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
