import NIOCore

/// One end of a tunnel between two channels on the same event loop: what one reads, the other writes, byte for
/// byte (NIO's connect-proxy `GlueHandler`, with byte counts). Backpressure both ways: a side reads only while its
/// partner's channel is writable, so a slow reader on one end slows the writer on the other instead of filling
/// memory. When either side closes, so does the other.
final class SocketSpliceHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private var partner: SocketSpliceHandler?
    private var context: ChannelHandlerContext?
    /// NIO asked this side to read while the partner could not take more; read once it can.
    private var pendingRead = false
    /// Bytes read on this side since the last report.
    private var unreported = 0
    /// Told how many bytes this side read (per read burst) and, once, that the tunnel closed.
    private let tunnel: SocketTunnel
    let side: SocketTunnel.Side
    /// Rewrites what this side reads before the partner writes it (a Responses socket's client side); nil passes
    /// bytes as read.
    var rewriter: SocketMessageRewriter?

    private init(tunnel: SocketTunnel, side: SocketTunnel.Side) {
        self.tunnel = tunnel
        self.side = side
    }

    /// The two ends of one tunnel: the client's, then the upstream's.
    static func pair(for tunnel: SocketTunnel) -> (client: SocketSpliceHandler, upstream: SocketSpliceHandler) {
        let client = SocketSpliceHandler(tunnel: tunnel, side: .client)
        let upstream = SocketSpliceHandler(tunnel: tunnel, side: .upstream)
        client.partner = upstream
        upstream.partner = client
        return (client, upstream)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        self.partner = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let bytes = self.unwrapInboundIn(data)
        self.unreported += bytes.readableBytes
        // After a refused message nothing more this side reads goes anywhere.
        guard self.rewriter?.refusal == nil else { return }
        guard var rewriter = self.rewriter else {
            self.partner?.partnerWrite(data)
            return
        }
        self.rewriter = nil  // one copy of its buffer while it works
        do {
            let output = try rewriter.feed(bytes)
            self.rewriter = rewriter
            if output.readableBytes > 0 {
                self.partner?.partnerWrite(self.wrapInboundOut(output))
            }
            if let refusal = rewriter.refusal {
                // What came before it goes on; the client hears why, as the Responses API says it (an `error`
                // event, then a close frame), and the tunnel closes.
                self.partner?.partnerFlush()
                self.tunnel.failed(self.side, refusal)
                let frames = refusal.error.socketFrames(allocator: context.channel.allocator)
                context.writeAndFlush(self.wrapOutboundOut(frames)).assumeIsolated().whenComplete { _ in
                    context.close(promise: nil)
                }
            }
        } catch {
            self.tunnel.failed(self.side, error)
            context.close(promise: nil)
        }
    }

    typealias InboundOut = ByteBuffer

    func channelReadComplete(context: ChannelHandlerContext) {
        self.reportBytes()
        self.partner?.partnerFlush()
        context.fireChannelReadComplete()
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.reportBytes()
        self.tunnel.closed(by: self.side)
        self.partner?.partnerClose()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        self.tunnel.failed(self.side, error)
        context.close(promise: nil)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // A drain does not cut an open socket: the worker's drain deadline bounds it.
        if event is ChannelShouldQuiesceEvent {
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            self.partner?.partnerBecameWritable()
        }
        context.fireChannelWritabilityChanged()
    }

    func read(context: ChannelHandlerContext) {
        if let partner = self.partner, partner.isWritable {
            context.read()
        } else {
            self.pendingRead = true
        }
    }

    private func reportBytes() {
        guard self.unreported > 0 else { return }
        self.tunnel.read(self.unreported, on: self.side)
        self.unreported = 0
    }

    // MARK: Called by the partner

    private var isWritable: Bool { self.context?.channel.isWritable ?? false }

    private func partnerWrite(_ data: NIOAny) {
        self.context?.write(data, promise: nil)
    }

    private func partnerFlush() {
        self.context?.flush()
    }

    private func partnerClose() {
        self.context?.close(promise: nil)
    }

    private func partnerBecameWritable() {
        if self.pendingRead {
            self.pendingRead = false
            self.context?.read()
        }
    }
}

@available(*, unavailable)
extension SocketSpliceHandler: Sendable {}
