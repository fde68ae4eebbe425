import NIOCore
import NIOHTTP1

/// The last handler of a pooled upstream connection: sends the request parts of the current call and hands the
/// response parts to it, holding upstream reads while the client has not taken the previous part yet.
///
/// Backpressure: every head and body part handed on returns the future of its client-side write; while any is
/// pending, `read()` is held, so a slow client makes the upstream's TCP window fill instead of the worker's
/// memory. The decoder in front may still split an already-read buffer into parts, which is bounded by one read.
final class UpstreamRelayHandler: ChannelDuplexHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundIn = HTTPClientRequestPart
    typealias OutboundOut = HTTPClientRequestPart

    /// The call whose response this connection carries now; nil while the connection is idle in the pool.
    var call: PooledUpstreamCall?
    /// Learns each request head from `send` (see `UpstreamResponseDecoder`).
    private let responseDecoder: HTTPResponseDecoder
    private var context: ChannelHandlerContext?
    private var pendingClientWrites = 0
    private var readPending = false

    init(responseDecoder: HTTPResponseDecoder) {
        self.responseDecoder = responseDecoder
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    /// Writes a whole request; the future succeeds once its last byte is out and fails when the connection cannot
    /// take it.
    ///
    /// With `Content-Length` framing the `.end` carries no bytes, and NIO's encoder writes an empty buffer down to
    /// the socket only to complete a promise given with it (~2,000 instructions per request in bench/profile), so
    /// the promise rides on the body's write instead, which completes at the same point.
    func send(head: HTTPRequestHead, body: ByteBuffer?) -> EventLoopFuture<Void>? {
        guard let context = self.context else { return nil }
        self.responseDecoder.write(data: .head(head))
        context.write(self.wrapOutboundOut(.head(head)), promise: nil)
        guard let body, body.readableBytes > 0 else {
            return context.writeAndFlush(self.wrapOutboundOut(.end(nil)))
        }
        guard head.headers.contains(name: "content-length") else {
            context.write(self.wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
            return context.writeAndFlush(self.wrapOutboundOut(.end(nil)))
        }
        let written = context.write(self.wrapOutboundOut(.body(.byteBuffer(body))))
        context.writeAndFlush(self.wrapOutboundOut(.end(nil)), promise: nil)
        return written
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = self.unwrapInboundIn(data)
        guard let call = self.call else {
            // A response nobody asked for (or the rest of an abandoned one): the connection is not reusable.
            context.close(promise: nil)
            return
        }
        switch part {
        case .head(let head):
            self.hold(until: call.received(head: head))
        case .body(let buffer):
            self.hold(until: call.received(body: buffer))
        case .end:
            call.receivedEnd()
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        self.call?.flushClient()
        context.fireChannelReadComplete()
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.call?.connectionLost(UpstreamConnectionClosedError())
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        // A decoding or I/O error: the connection is unusable. The call learns of it through channelInactive,
        // with the error itself so that the log says what happened.
        self.call?.connectionLost(error)
        context.close(promise: nil)
    }

    func read(context: ChannelHandlerContext) {
        if self.pendingClientWrites > 0 {
            self.readPending = true
        } else {
            context.read()
        }
    }

    private func hold(until clientWrite: EventLoopFuture<Void>) {
        self.pendingClientWrites += 1
        clientWrite.assumeIsolated().whenComplete { _ in
            self.pendingClientWrites -= 1
            if self.pendingClientWrites == 0, self.readPending, let context = self.context {
                self.readPending = false
                context.read()
            }
        }
    }
}

/// The upstream closed the connection before the response ended (mapped like AsyncHTTPClient's
/// `remoteConnectionClosed`: a 502 before the head, a cut stream after it).
struct UpstreamConnectionClosedError: Error, CustomStringConvertible {
    var description: String { "upstream closed the connection before the response ended" }
}

@available(*, unavailable)
extension UpstreamRelayHandler: Sendable {}
