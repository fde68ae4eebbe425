import NIOCore
import NIOHTTP1

/// The client connection's HTTP/1.1 codec: request parts parsed from the socket's bytes by `HTTPRequestParser`,
/// response parts encoded by `HTTPResponseWriter`, in one handler.
///
/// It stands where NIO's `ByteToMessageHandler<HTTPRequestDecoder>` and `HTTPResponseEncoder` stood: the same
/// parts in and out, so the connection handler and the exchange did not change. One handler instead of two, no
/// llhttp callback per token, no generic decoder loop; bench/profile's numbers are in the README.
public final class HTTPServerCodec: ChannelDuplexHandler, RemovableChannelHandler {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = HTTPServerRequestPart
    public typealias OutboundIn = HTTPServerResponsePart
    public typealias OutboundOut = IOData

    /// A body part written for an answer that may not have one (to a HEAD request, or a 204/304).
    public struct BodyNotAllowed: Error {}

    private var parser: HTTPRequestParser
    private var writer = HTTPResponseWriter()
    /// Bytes read and not parsed yet: a head still incomplete, or whatever follows an upgrade.
    private var unparsed: ByteBuffer?
    /// Guards the parse loop: a read that arrives while a part is being delivered is parsed by the running loop.
    private var parsing = false
    private var removed = false

    public init(limits: HTTPRequestParser.Limits = .init()) {
        self.parser = HTTPRequestParser(limits: limits)
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = self.unwrapInboundIn(data)
        if self.unparsed == nil {
            self.unparsed = bytes
        } else {
            self.unparsed!.writeBuffer(&bytes)
        }
        self.parseUnparsed(context: context)
    }

    private func parseUnparsed(context: ChannelHandlerContext) {
        guard !self.parsing else { return }
        self.parsing = true
        defer { self.parsing = false }
        while !self.removed {
            let part: HTTPRequestParser.Part?
            if var buffer = self.unparsed {
                self.unparsed = nil  // owned here while parsing: no copy-on-write when a body slice is taken
                do {
                    part = try self.parser.nextPart(from: &buffer)
                } catch {
                    context.fireErrorCaught(error)
                    return
                }
                if buffer.readableBytes > 0 {
                    self.unparsed = buffer
                }
            } else {
                part = self.parser.pendingEnd()  // a request without a body ends with its head's last byte
            }
            guard let part else {
                return
            }
            if case .head(let head) = part {
                self.writer.requestRead(head.method)
            }
            context.fireChannelRead(self.wrapInboundOut(part))
        }
    }

    /// Bytes that followed an upgrade go to the handler that takes the connection over.
    public func handlerRemoved(context: ChannelHandlerContext) {
        self.removed = true
        if let leftover = self.unparsed, leftover.readableBytes > 0, self.parser.isUpgraded {
            self.unparsed = nil
            context.fireChannelRead(NIOAny(leftover))
        }
    }

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let allocator = context.channel.allocator
        switch self.unwrapOutboundIn(data) {
        case .head(let head):
            let bytes = self.writer.head(head, allocator: allocator)
            context.write(self.wrapOutboundOut(.byteBuffer(bytes)), promise: promise)
        case .body(let body):
            guard let output = self.writer.body(body, allocator: allocator) else {
                promise?.fail(BodyNotAllowed())
                return
            }
            self.write(output, context: context, promise: promise)
        case .end(let trailers):
            self.write(self.writer.end(trailers, allocator: allocator), context: context, promise: promise)
        }
    }

    private func write(
        _ output: HTTPResponseWriter.Output,
        context: ChannelHandlerContext,
        promise: EventLoopPromise<Void>?
    ) {
        switch output {
        case .bytes(let bytes):
            context.write(self.wrapOutboundOut(.byteBuffer(bytes)), promise: promise)
        case .data(let data):
            context.write(self.wrapOutboundOut(data), promise: promise)
        case .chunk(let prefix, let data, let suffix):
            // Writes complete in order: the last one's promise completes after all three.
            context.write(self.wrapOutboundOut(.byteBuffer(prefix)), promise: nil)
            context.write(self.wrapOutboundOut(data), promise: nil)
            context.write(self.wrapOutboundOut(.byteBuffer(suffix)), promise: promise)
        case .nothing:
            // Still completed in order with the writes before it.
            if let promise {
                context.write(self.wrapOutboundOut(.byteBuffer(ByteBuffer())), promise: promise)
            }
        }
    }
}

@available(*, unavailable)
extension HTTPServerCodec: Sendable {}
