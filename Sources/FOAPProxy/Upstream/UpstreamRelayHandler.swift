import FOAPHTTP1
import NIOCore
import NIOHTTP1

/// The pooled upstream connection's only handler: writes the current call's request and parses the response
/// from the socket's bytes (`HTTPResponseParser`), handing the parts to the call and holding upstream reads
/// while the client has not taken the previous part yet.
///
/// It stands where NIO's `HTTPRequestEncoder`, `ByteToMessageHandler<HTTPResponseDecoder>` and a relay of
/// parts stood: no llhttp callbacks, no generic decoder loop, no `NIOAny` per part, and the request goes out as
/// one buffer (bench/profile's numbers are in docs/performance.md).
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
    /// In a cell (see `LoopBoundCell`): parsing calls into another module, which kept a runtime exclusivity check on
    /// every access to it as a stored property.
    private let parserCell = LoopBoundCell(HTTPResponseParser())
    private var parser: HTTPResponseParser {
        @inline(__always) _read { yield self.parserCell.value }
        @inline(__always) _modify { yield &self.parserCell.value }
    }
    /// Bytes read and not parsed yet (a head still incomplete).
    private var unparsed: ByteBuffer?
    private var context: ChannelHandlerContext?
    private var pendingClientWrites = 0
    private var readPending = false
    /// The loop's batch that flushes requests together (nil: each is flushed as it is written).
    private let flushBatch: LoopFlushBatch?

    init(flushBatch: LoopFlushBatch? = nil) {
        self.flushBatch = flushBatch
    }

    deinit {
        self.parserCell.free()
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    /// Unwritable above one buffered byte, writable again at none (`send` reads `isWritable` as "all written").
    static let waterMark = ChannelOptions.Types.WriteBufferWaterMark(low: 1, high: 1)

    /// How far a request got when `send` returned.
    enum RequestWrite {
        /// Every byte went to the kernel during the flush (nearly every request: the connection's send buffer is empty).
        case written
        /// Some bytes wait for the socket: the future succeeds once the last is out, or fails with the connection.
        case pending(EventLoopFuture<Void>)
        /// The connection is gone (its loss was reported through `channelInactive`, if it had a call).
        case notSent
        /// Written to the channel, flushed at the end of the loop's batch of events (`LoopFlushBatch`); the call
        /// hears how it went through `requestFlushed(_:by:)` then.
        case queued
    }

    /// Writes a whole request (`HTTPRequestWriter`'s bytes, then `body` when it was left apart) whose answer is read
    /// as one to `method` (a HEAD's has no body), without a promise, and flushes it at once or, with a `flushBatch`,
    /// at the end of the loop's batch of events.
    func send(_ request: ByteBuffer, then body: ByteBuffer?, answeredAs method: HTTPMethod) -> RequestWrite {
        guard let context = self.context else { return .notSent }
        self.parser.expectResponse(to: method)
        // Two buffers, one flush: the kernel gets both in one writev.
        context.write(self.wrapOutboundOut(request), promise: nil)
        if let body {
            context.write(self.wrapOutboundOut(body), promise: nil)
        }
        if let flushBatch = self.flushBatch {
            flushBatch.flushSoon(self)
            return .queued
        }
        return Self.flush(context)
    }

    /// Flushes and tells how far the written request got: the channel is asked whether anything is still buffered.
    /// A promise per request, its future and the callback on it cost ~3,000 instructions per request in
    /// bench/profile, and asking for the `bufferedWritableBytes` option ~1,900 (a chain of dynamic casts). The
    /// connection's water marks (`waterMark`) make `isWritable` that answer: a request (always more than one byte)
    /// makes the channel unwritable when it is queued, and it is writable again only once no byte is left. Only a
    /// request the socket did not take whole gets a promise, on an empty write behind it (writes complete in order).
    private static func flush(_ context: ChannelHandlerContext) -> RequestWrite {
        context.flush()
        // A failed write closed the channel (and `channelInactive` told the call) before the flush returned.
        let channel = context.channel
        guard channel.isActive else { return .notSent }
        if channel.isWritable {
            return .written
        }
        let written = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(NIOAny(ByteBuffer()), promise: written)
        return .pending(written.futureResult)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // Parsed from a local buffer, taken from `unparsed` and put back once (see `ProxyConnectionHandler`).
        var buffer = self.unwrapInboundIn(data)
        if var held = self.unparsed.take() {
            held.writeBuffer(&buffer)
            buffer = held
        }
        defer {
            if buffer.readableBytes > 0 {
                self.unparsed = buffer
            }
        }
        while let part = self.nextPart(from: &buffer, context: context) {
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

    /// The next response part in `buffer`, or nil when more bytes are needed; a parse error closes the connection.
    private func nextPart(from buffer: inout ByteBuffer, context: ChannelHandlerContext) -> HTTPResponseParser.Part? {
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

extension UpstreamRelayHandler: BatchedFlushing {
    func flushBatched() {
        // A connection closed meanwhile told its call through `channelInactive`; its queued bytes are dropped.
        guard let context = self.context else { return }
        let write = Self.flush(context)
        self.call?.requestFlushed(write, by: self)
    }
}
