import FOAPHTTP1
import NIOCore
import NIOHTTP1

/// The pooled upstream connection's only handler: writes the current call's request and parses the response
/// from the socket's bytes (`HTTPResponseParser`), handing the parts to the call and holding upstream reads
/// while the client has not taken the previous part yet.
///
/// It stands where NIO's `HTTPRequestEncoder`, `ByteToMessageHandler<HTTPResponseDecoder>` and a relay of
/// parts stood: no llhttp callbacks, no generic decoder loop, no `NIOAny` per part, and the request goes out as
/// one buffer (bench/profile's numbers are in the README).
///
/// Backpressure: every head and body part handed on returns the future of its client-side write; while any is
/// pending, `read()` is held, so a slow client makes the upstream's TCP window fill instead of the worker's
/// memory. An already-read buffer is still split into parts, which is bounded by one read.
final class UpstreamRelayHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// The call whose response this connection carries now; nil while the connection is idle in the pool.
    var call: PooledUpstreamCall?
    private var parser = HTTPResponseParser()
    /// Bytes read and not parsed yet (a head still incomplete).
    private var unparsed: ByteBuffer?
    private var context: ChannelHandlerContext?
    private var pendingClientWrites = 0
    private var readPending = false

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    /// Writes a whole request (`HTTPRequestWriter`'s bytes, then `body` when it was left apart) whose answer is read
    /// as one to `method` (a HEAD's has no body); the future succeeds once its last byte is out and fails when the
    /// connection cannot take it.
    func send(_ request: ByteBuffer, then body: ByteBuffer?, answeredAs method: HTTPMethod) -> EventLoopFuture<Void>? {
        guard let context = self.context else { return nil }
        self.parser.expectResponse(to: method)
        guard let body else {
            return context.writeAndFlush(self.wrapOutboundOut(request))
        }
        // Two buffers, one flush: the kernel gets both in one writev.
        context.write(self.wrapOutboundOut(request), promise: nil)
        return context.writeAndFlush(self.wrapOutboundOut(body))
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = self.unwrapInboundIn(data)
        if self.unparsed == nil {
            self.unparsed = bytes
        } else {
            self.unparsed!.writeBuffer(&bytes)
        }
        while let part = self.nextPart(context: context) {
            guard let call = self.call else {
                // A response nobody asked for (or the rest of an abandoned one): the connection is not reusable.
                context.close(promise: nil)
                return
            }
            switch part {
            case .head(let head):
                self.hold(until: call.received(head: head, keepAlive: self.parser.keepsAlive))
            case .body(let buffer):
                self.hold(until: call.received(body: buffer))
            case .end:
                call.receivedEnd()
            }
        }
    }

    /// The next response part, or nil when more bytes are needed; a parse error closes the connection.
    private func nextPart(context: ChannelHandlerContext) -> HTTPResponseParser.Part? {
        guard var buffer = self.unparsed else {
            return self.parser.pendingEnd()
        }
        self.unparsed = nil  // owned here while parsing: no copy-on-write when a body slice is taken
        defer {
            if buffer.readableBytes > 0 {
                self.unparsed = buffer
            }
        }
        do {
            return try self.parser.nextPart(from: &buffer) ?? self.parser.pendingEnd()
        } catch {
            buffer.clear()
            self.errorCaught(context: context, error: error)
            return nil
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        self.call?.flushClient()
        context.fireChannelReadComplete()
    }

    func channelInactive(context: ChannelHandlerContext) {
        // A body that runs until the upstream closes ends here; any other response was cut short.
        if case .end = self.parser.endOfInput() {
            self.call?.receivedEnd()
        }
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

    private func hold(until clientWrite: EventLoopFuture<Void>?) {
        guard let clientWrite else { return }
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
