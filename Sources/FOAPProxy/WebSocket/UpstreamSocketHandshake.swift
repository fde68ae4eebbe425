import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// The upstream half of a WebSocket tunnel before its `101`: connects (TLS for `https` upstreams), sends the
/// opening handshake, and reports the upstream's answer. On a `101` the channel is turned into one end of the
/// tunnel (``becomeTunnel(_:)``); any other answer is held (up to ``maximumRefusalBody`` bytes) for the client.
final class UpstreamSocketHandshake: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    /// `@unchecked`: made and consumed on the one event loop the client connection and its upstream share.
    enum Outcome: @unchecked Sendable {
        /// The upstream switched protocols: `channel` is ready for ``becomeTunnel(_:)``.
        case upgraded(HTTPResponseHead, UpstreamSocketHandshake)
        /// Any other answer (a 401, a 404, a 429), with the start of its body.
        case refused(HTTPResponseHead, ByteBuffer)
    }

    /// The most of a refusal's body relayed to the client; the rest is dropped.
    static let maximumRefusalBody = 64 * 1024

    private let request: HTTPRequestHead
    private let outcome: EventLoopPromise<Outcome>
    private var response: HTTPResponseHead?
    private var body = ByteBuffer()
    private var done = false
    private var context: ChannelHandlerContext?
    private let encoder: HTTPRequestEncoder
    private let decoder: ByteToMessageHandler<HTTPResponseDecoder>

    private init(request: HTTPRequestHead, outcome: EventLoopPromise<Outcome>) {
        self.request = request
        self.outcome = outcome
        self.encoder = HTTPRequestEncoder()
        // Frames the upstream sends right behind its `101` (Realtime's `session.created`) may arrive in the same
        // read: the decoder hands them on when it is removed.
        self.decoder = ByteToMessageHandler(HTTPResponseDecoder(leftOverBytesStrategy: .forwardBytes))
    }

    /// Connects to `host:port` on `eventLoop` and sends `request`; the future fails on a connect, TLS or
    /// protocol error, or when the upstream closes before answering.
    static func open(
        host: String, port: Int, tls: (NIOSSLContext, serverName: String?)?, request: HTTPRequestHead,
        connectTimeout: TimeAmount, on eventLoop: any EventLoop
    ) -> EventLoopFuture<Outcome> {
        let outcome = eventLoop.makePromise(of: Outcome.self)
        ClientBootstrap(group: eventLoop)
            .connectTimeout(connectTimeout)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    if let (context, serverName) = tls {
                        try pipeline.addHandler(NIOSSLClientHandler(context: context, serverHostname: serverName))
                    }
                    let handshake = UpstreamSocketHandshake(request: request, outcome: outcome)
                    try pipeline.addHandler(handshake.encoder)
                    try pipeline.addHandler(handshake.decoder)
                    try pipeline.addHandler(handshake)
                }
            }
            .connect(host: host, port: port)
            .whenFailure { outcome.fail($0) }
        return outcome.futureResult
    }

    /// The upstream's channel once connected.
    var channel: Channel? { self.context?.channel }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive {
            self.sendRequest(context: context)
        }
    }

    func channelActive(context: ChannelHandlerContext) {
        self.sendRequest(context: context)
        context.fireChannelActive()
    }

    private var sent = false

    private func sendRequest(context: ChannelHandlerContext) {
        guard !self.sent else { return }
        self.sent = true
        context.write(self.wrapOutboundOut(.head(self.request)), promise: nil)
        context.writeAndFlush(self.wrapOutboundOut(.end(nil)), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch self.unwrapInboundIn(data) {
        case .head(let head):
            self.response = head
        case .body(var part):
            let room = Self.maximumRefusalBody - self.body.readableBytes
            if room > 0, let kept = part.readSlice(length: min(room, part.readableBytes)) {
                self.body.writeImmutableBuffer(kept)
            }
        case .end:
            guard !self.done, let head = self.response else { return }
            self.done = true
            if head.status == .switchingProtocols {
                self.outcome.succeed(.upgraded(head, self))
            } else {
                self.outcome.succeed(.refused(head, self.body))
                context.close(promise: nil)
            }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.fail(UpstreamSocketClosedError())
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        self.fail(error)
        context.close(promise: nil)
    }

    private func fail(_ error: Error) {
        guard !self.done else { return }
        self.done = true
        self.outcome.fail(error)
    }

    /// Turns the upstream channel into `splice`'s end of the tunnel: the HTTP codec goes, and bytes the upstream
    /// sent behind its `101` are handed to `splice` as they were read.
    /// - Returns: when the decoder has left (a task later). Until then it still inspects writes as HTTP requests:
    ///   foap's own bytes go upstream only after it.
    @discardableResult
    func becomeTunnel(_ splice: SocketSpliceHandler) throws -> EventLoopFuture<Void> {
        guard let context = self.context else { throw UpstreamSocketClosedError() }
        let pipeline = context.pipeline.syncOperations
        try pipeline.addHandler(splice)
        pipeline.removeHandler(self, promise: nil)
        pipeline.removeHandler(self.encoder, promise: nil)
        let decoderGone = context.eventLoop.makePromise(of: Void.self)
        pipeline.removeHandler(self.decoder, promise: decoderGone)
        return decoderGone.futureResult
    }

    /// Gives up before the tunnel opened (the client left, the handshake took too long).
    func close() {
        self.context?.close(promise: nil)
    }
}

/// The upstream closed its connection before answering the opening handshake.
struct UpstreamSocketClosedError: Error {}

@available(*, unavailable)
extension UpstreamSocketHandshake: Sendable {}
