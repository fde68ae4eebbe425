import NIOCore

/// Reads the first message of a Responses WebSocket (a text message, possibly in fragments), which names the model
/// and so the upstream; answers pings meanwhile. Once it has, it reads no more; bytes that arrived behind it are
/// given back with the channel (``handOver(to:)``), to go upstream after the first message, in order.
final class FirstMessageReader: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    enum Event {
        /// The first message, unmasked, and how many bytes its frames took on the wire.
        case message(ByteBuffer, wireBytes: Int)
        /// The client broke the protocol (an unmasked frame, a binary first message, …).
        case violation(String)
        /// The client closed (or sent a close frame) before its first message.
        case closed
    }

    private var received = ByteBuffer()
    private var fragments: ByteBuffer?
    private var wireBytes = 0
    private var delivered = false
    private var closeDelivered = false
    private let limit: Int
    private var onEvent: ((Event) -> Void)?
    private var context: ChannelHandlerContext?

    /// - Parameters:
    ///   - limit: the largest first message (the body limit of `POST /v1/responses`).
    ///   - onEvent: called with the first message (or a violation), and when the client closes before the tunnel.
    init(limit: Int, onEvent: @escaping (Event) -> Void) {
        self.limit = limit
        self.onEvent = onEvent
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = self.unwrapInboundIn(data)
        self.received.writeBuffer(&bytes)
        guard !self.delivered else { return }
        do {
            while let frame = try self.nextFrame() {
                switch WebSocketFraming.Opcode(rawValue: frame.opcode) {
                case .ping:
                    let pong = WebSocketFraming.serverFrame(
                        .pong, payload: frame.payload, allocator: context.channel.allocator)
                    context.writeAndFlush(self.wrapOutboundOut(pong), promise: nil)
                case .pong:
                    continue
                case .close:
                    self.deliver(.closed)
                    return
                case .text where self.fragments == nil:
                    guard frame.fin else {
                        self.fragments = frame.payload
                        continue
                    }
                    self.deliver(.message(frame.payload, wireBytes: self.wireBytes))
                    return
                case .continuation where self.fragments != nil:
                    var payload = frame.payload
                    self.fragments!.writeBuffer(&payload)
                    guard self.fragments!.readableBytes <= self.limit else {
                        throw WebSocketFraming.ProtocolViolation(reason: "message too large")
                    }
                    if frame.fin, let message = self.fragments {
                        self.deliver(.message(message, wireBytes: self.wireBytes))
                        return
                    }
                default:
                    throw WebSocketFraming.ProtocolViolation(
                        reason: "the first message must be a response.create text message")
                }
            }
        } catch let violation as WebSocketFraming.ProtocolViolation {
            self.deliver(.violation(violation.reason))
        } catch {
            self.deliver(.violation("\(error)"))
        }
    }

    private func nextFrame() throws -> WebSocketFraming.ClientFrame? {
        let before = self.received.readerIndex
        let frame = try WebSocketFraming.readClientFrame(&self.received, limit: self.limit)
        self.wireBytes += self.received.readerIndex - before
        return frame
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.deliver(.closed)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // A drain does not cut an open socket (see SocketSpliceHandler).
        if event is ChannelShouldQuiesceEvent {
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func read(context: ChannelHandlerContext) {
        // Once the first message is in, nothing more is read until the tunnel is up.
        if !self.delivered {
            context.read()
        }
    }

    /// The first message or violation once; a close once, also after the message (the client left while the
    /// upstream was being reached).
    private func deliver(_ event: Event) {
        if case .closed = event {
            guard !self.closeDelivered else { return }
            self.closeDelivered = true
        } else {
            guard !self.delivered else { return }
        }
        self.delivered = true
        self.onEvent?(event)
    }

    /// Puts `splice` in this handler's place; nothing is read until the caller asks.
    /// - Returns: the bytes that arrived behind the first message, for the caller to pass on once the first message
    ///   went upstream.
    func handOver(to splice: SocketSpliceHandler) throws -> ByteBuffer {
        guard let context = self.context else { throw ChannelError.ioOnClosedChannel }
        let pipeline = context.pipeline.syncOperations
        try pipeline.addHandler(splice, position: .after(self))
        self.onEvent = nil
        pipeline.removeHandler(self, promise: nil)
        return self.received
    }
}

@available(*, unavailable)
extension FirstMessageReader: Sendable {}
