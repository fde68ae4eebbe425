import FOAPHTTP1
import NIOCore
import NIOHTTP1

/// The answers of one client connection on their way to the socket: response parts encoded straight into bytes
/// (`HTTPResponseWriter`, NIO's framing rules) and gathered, so that a head, a small body and the end leave in one
/// write when the exchange flushes.
///
/// It stands where NIO's `HTTPResponseEncoder` stood, but is called directly by the exchange and the connection
/// handler: no `NIOAny` hop and no pending write per part, and no write future per relayed part while the bytes
/// are only gathered (bench/profile's numbers are in docs/performance.md).
///
/// Every write is ordered as before: gathered bytes go out before any part written on its own, and a promise
/// given with a gathered part completes when the bytes it was gathered into are written.
final class ResponseOutput {
    /// A body part written for an answer that may not have one (to a HEAD request).
    struct BodyNotAllowed: Error {}

    /// Body parts up to this size are copied into the gathered bytes (the answers and stream events of model APIs
    /// are small); larger ones are written as they are, without a copy.
    static let copyLimit = 8192
    /// Gathered bytes beyond this are written at once (not flushed): what a connection holds stays bounded when
    /// many small parts arrive between two flushes.
    static let gatherLimit = 32768
    /// What a response's first buffer reserves: a head of a dozen fields and a small JSON answer.
    static let answerReservation = 2048

    private let context: ChannelHandlerContext
    /// In a cell (see `LoopBoundCell`): encoding calls into another module, which kept a runtime exclusivity check
    /// on every access to it as a stored property.
    private let writerCell = LoopBoundCell(HTTPResponseWriter())
    private var writer: HTTPResponseWriter {
        @inline(__always) _read { yield self.writerCell.value }
        @inline(__always) _modify { yield &self.writerCell.value }
    }
    /// Encoded bytes not handed to the channel yet.
    private var gathered: ByteBuffer?
    /// Completed once the gathered bytes are written (every promise given with a gathered part cascades from it).
    private var gatheredPromise: EventLoopPromise<Void>?

    /// The loop's buffers: an answer's bytes are encoded into one taken from there and put back once written.
    let buffers: BufferRecycler?
    /// The loop's batch that flushes keep-alive answers together (nil: each is flushed as it ends).
    private let flushBatch: LoopFlushBatch?
    /// Whether this output waits in `flushBatch`.
    private var flushAsked = false
    /// The last buffer handed to the channel before a batched flush: recycled after that flush, when NIO has let go
    /// of it (recycled at once, the next answer in the same batch would find it still held and allocate anew).
    private var unflushed: ByteBuffer?

    init(context: ChannelHandlerContext, buffers: BufferRecycler?, flushBatch: LoopFlushBatch? = nil) {
        self.context = context
        self.buffers = buffers
        self.flushBatch = flushBatch
    }

    deinit {
        self.writerCell.free()
    }

    /// A request was handed to an exchange: the answer's framing depends on its method.
    func requestRead(_ method: HTTPMethod) {
        self.writer.requestRead(method)
    }

    /// Encodes a head: `relayed` fields (an upstream's, as received) and then the head's own.
    func writeHead(_ head: HTTPResponseHead, relaying relayed: HTTPFieldBlock?, promise: EventLoopPromise<Void>?) {
        // Room for a typical head and a small body behind it: one allocation for the whole answer.
        var buffer = self.takeGathered(reserving: Self.answerReservation)
        self.writer.writeHead(head, relaying: relayed, into: &buffer)
        self.gather(buffer, promise: promise)
        if head.status == .switchingProtocols {
            // The connection changes hands after a 101: its bytes are in the channel before that.
            self.writeGathered()
        }
    }

    /// Encodes `part`; its bytes are written at the next flush at the latest.
    func write(_ part: HTTPServerResponsePart, promise: EventLoopPromise<Void>?) {
        switch part {
        case .head(let head):
            self.writeHead(head, relaying: nil, promise: promise)
        case .body(let data):
            // Room for the part when it is copied, else for a chunk-size line at most.
            let copied = data.readableBytes <= Self.copyLimit
            var buffer = self.takeGathered(reserving: (copied ? data.readableBytes : 0) + 32)
            switch self.writer.writeBody(data, into: &buffer, copyLimit: Self.copyLimit) {
            case .appended:
                self.gather(buffer, promise: promise)
                if buffer.readableBytes > Self.gatherLimit {
                    self.writeGathered()
                }
            case .refused:
                self.gather(buffer, promise: nil)
                promise?.fail(BodyNotAllowed())
            case .separate(let data, let suffix):
                self.gather(buffer, promise: nil)
                self.writeGathered()
                guard let suffix else {
                    self.context.write(NIOAny(data), promise: promise)
                    return
                }
                // Writes complete in order: the part's promise completes after its chunk's CRLF.
                self.context.write(NIOAny(data), promise: nil)
                self.context.write(NIOAny(IOData.byteBuffer(ByteBuffer(staticString: suffix))), promise: promise)
            }
        case .end(let trailers):
            var buffer = self.takeGathered(reserving: 16)
            self.writer.writeEnd(trailers, into: &buffer)
            self.gather(buffer, promise: promise)
        }
    }

    /// Encodes `part` and returns what the relay must wait for before it reads on: nothing (nil) when its bytes were
    /// gathered while the channel is writable (no future per part), else their write. A client that reads slowly
    /// makes the channel unwritable (NIO's write watermarks), so relayed parts then wait for it again and the
    /// upstream's TCP window fills instead of this worker's memory.
    func write(_ part: HTTPServerResponsePart) -> EventLoopFuture<Void>? {
        if case .body(let data) = part, data.readableBytes <= Self.copyLimit, self.context.channel.isWritable {
            self.write(part, promise: nil)
            return nil
        }
        let promise = self.context.eventLoop.makePromise(of: Void.self)
        self.write(part, promise: promise)
        return promise.futureResult
    }

    func flush() {
        self.writeGathered()
        self.context.flush()
    }

    func writeAndFlush(_ part: HTTPServerResponsePart, promise: EventLoopPromise<Void>?) {
        self.write(part, promise: promise)
        self.flush()
    }

    /// Hands the gathered bytes to the channel (without flushing), and their buffer to the loop's recycler unless
    /// the flush waits for the batch (`unflushed` then keeps it until `flushBatched`).
    func writeGathered(flushingLater: Bool = false) {
        let promise = self.gatheredPromise
        self.gatheredPromise = nil
        if let buffer = self.gathered {
            self.gathered = nil
            self.context.write(NIOAny(IOData.byteBuffer(buffer)), promise: promise)
            if flushingLater {
                self.unflushed = buffer
            } else {
                self.buffers?.recycle(buffer)
            }
        } else if let promise {
            // Nothing to write, but the promise still completes in order with the writes before it.
            self.context.write(NIOAny(IOData.byteBuffer(ByteBuffer())), promise: promise)
        }
    }

    /// The connection is gone: gathered bytes will never be written, and a promise waiting on them (a relayed
    /// part held back for a slow client) fails instead of staying pending.
    func connectionClosed() {
        self.gathered = nil
        self.unflushed = nil
        let promise = self.gatheredPromise
        self.gatheredPromise = nil
        promise?.fail(ChannelError.ioOnClosedChannel)
    }

    /// The gathered bytes to append to, owned by the caller until `gather` (so appending does not copy them).
    private func takeGathered(reserving capacity: Int) -> ByteBuffer {
        guard let buffer = self.gathered else {
            return self.takeBuffer(capacity: capacity)
        }
        self.gathered = nil
        return buffer
    }

    /// An empty buffer of at least `capacity` bytes, from the loop's recycled ones when there are any (for this
    /// connection's answers and for what its exchanges encode for the upstream).
    func takeBuffer(capacity: Int) -> ByteBuffer {
        self.buffers?.takeKept(capacity: capacity) ?? self.context.channel.allocator.buffer(capacity: capacity)
    }

    private func gather(_ buffer: ByteBuffer, promise: EventLoopPromise<Void>?) {
        self.gathered = buffer.readableBytes > 0 ? buffer : nil
        guard let promise else { return }
        if let gatheredPromise = self.gatheredPromise {
            gatheredPromise.futureResult.cascade(to: promise)
        } else {
            self.gatheredPromise = promise
        }
    }
}

extension ResponseOutput: ResponseEndWriting {
    /// An end nobody waits for (the connection stays open, nothing follows it) is flushed with the loop's batch;
    /// one with a promise (a close or a lingering read waits for it) at once.
    func writeAndFlushEnd(promise: EventLoopPromise<Void>?) {
        guard promise == nil, let flushBatch = self.flushBatch else {
            self.writeAndFlush(.end(nil), promise: promise)
            return
        }
        self.write(.end(nil), promise: nil)
        self.writeGathered(flushingLater: true)
        guard !self.flushAsked else { return }  // a pipelined answer before this one asked already
        self.flushAsked = true
        flushBatch.flushSoon(self)
    }
}

extension ResponseOutput: BatchedFlushing {
    /// A connection closed meanwhile has no pipeline left: the flush goes nowhere.
    func flushBatched() {
        self.flushAsked = false
        self.context.flush()
        if let buffer = self.unflushed {
            self.unflushed = nil
            self.buffers?.recycle(buffer)
        }
    }
}

@available(*, unavailable)
extension ResponseOutput: Sendable {}
