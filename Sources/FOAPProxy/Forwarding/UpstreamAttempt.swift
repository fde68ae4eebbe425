import AsyncHTTPClient
import NIOCore
import NIOHTTP1

/// The sink of one attempt of a pooled request. When the exchange gives the attempt up for another upstream, the
/// old call's late callbacks (AsyncHTTPClient reports a cancelled task asynchronously) must not reach it: this
/// forwards only while it is the exchange's current attempt.
///
/// Requests with a single possible attempt skip it: the exchange is their sink itself, as before pools existed.
///
/// `@unchecked Sendable`: loop-bound like the exchange (see `ProxyExchange+Upstream.swift`).
final class UpstreamAttempt: HTTPClientSink, @unchecked Sendable {
    typealias Response = Void

    private weak var exchange: ProxyExchange?
    private let eventLoop: EventLoop

    init(exchange: ProxyExchange) {
        self.exchange = exchange
        self.eventLoop = exchange.context.eventLoop
    }

    private var live: ProxyExchange? {
        guard let exchange = self.exchange, exchange.currentAttempt === self else { return nil }
        return exchange
    }

    func upstreamHead(_ head: HTTPResponseHead, flush: Bool) -> EventLoopFuture<Void> {
        self.live?.upstreamHead(head, flush: flush) ?? self.eventLoop.makeSucceededVoidFuture()
    }

    func upstreamBodyPart(_ buffer: ByteBuffer, flush: Bool) -> EventLoopFuture<Void> {
        self.live?.upstreamBodyPart(buffer, flush: flush) ?? self.eventLoop.makeSucceededVoidFuture()
    }

    func upstreamFlush() {
        self.live?.upstreamFlush()
    }

    func upstreamEnd() {
        self.live?.upstreamEnd()
    }

    func upstreamFailed(_ error: Error) {
        self.live?.upstreamFailed(error)
    }
}
