import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket

/// A Realtime-like WebSocket server for tests on 127.0.0.1: on upgrade it sends `session.created` naming the model
/// of its `?model=` (in the same write as the `101`, as real servers often do), then echoes every text or binary
/// frame as `echo:<payload>`, answers a close with a close, and records what it saw. A request carrying
/// `Authorization: Bearer bad` is refused with a 401 and a JSON body.
public final class WebSocketUpstream: Sendable {
    public struct Seen: Sendable {
        public var handshakes: [HTTPRequestHead] = []
        public var frames: [String] = []
        public var openSockets = 0
        public var closedSockets = 0
    }

    private let channel: Channel
    private let state = NIOLockedValueBox(Seen())
    public let port: Int
    public var baseURL: String { "http://127.0.0.1:\(self.port)" }
    public var seen: Seen { self.state.withLockedValue { $0 } }

    public init() throws {
        let state = self.state
        let upgrader = NIOWebSocketServerUpgrader(
            maxFrameSize: 1 << 20,
            shouldUpgrade: { channel, head in
                state.withLockedValue { $0.handshakes.append(head) }
                guard head.headers.first(name: "authorization") != "Bearer bad" else {
                    return channel.eventLoop.makeSucceededFuture(nil)
                }
                var headers = HTTPHeaders()
                if head.headers["sec-websocket-protocol"].contains(where: { $0.contains("realtime") }) {
                    headers.add(name: "Sec-WebSocket-Protocol", value: "realtime")
                }
                return channel.eventLoop.makeSucceededFuture(headers)
            },
            upgradePipelineHandler: { channel, head in
                let model = head.uri.split(separator: "model=").dropFirst().first.map {
                    String($0.prefix { $0 != "&" })
                } ?? "-"
                return channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    pipeline.removeHandler(try pipeline.handler(type: Refusal.self), promise: nil)
                    try pipeline.addHandler(Echo(model: model, state: state))
                }
            })
        self.channel = try ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let refusal = Refusal()
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(
                        withServerUpgrade: (upgraders: [upgrader], completionHandler: { _ in }))
                    try channel.pipeline.syncOperations.addHandler(refusal)
                }
            }
            .bind(host: "127.0.0.1", port: 0).wait()
        self.port = self.channel.localAddress!.port!
    }

    public func stop() throws {
        try self.channel.close().wait()
    }

    /// Answers whatever did not upgrade.
    private final class Refusal: ChannelInboundHandler, RemovableChannelHandler {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            guard case .end = self.unwrapInboundIn(data) else { return }
            let body = ByteBuffer(string: #"{"error":{"message":"bad key","type":"invalid_request_error"}}"#)
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: "application/json")
            headers.add(name: "Content-Length", value: String(body.readableBytes))
            context.write(self.wrapOutboundOut(.head(.init(version: .http1_1, status: .unauthorized, headers: headers))),
                          promise: nil)
            context.write(self.wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
            context.writeAndFlush(self.wrapOutboundOut(.end(nil)), promise: nil)
        }
    }

    private final class Echo: ChannelInboundHandler {
        typealias InboundIn = WebSocketFrame
        typealias OutboundOut = WebSocketFrame
        let model: String
        let state: NIOLockedValueBox<Seen>

        init(model: String, state: NIOLockedValueBox<Seen>) {
            self.model = model
            self.state = state
        }

        func handlerAdded(context: ChannelHandlerContext) {
            self.state.withLockedValue { $0.openSockets += 1 }
            self.send(#"{"type":"session.created","model":"\#(self.model)"}"#, opcode: .text, context: context)
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let frame = self.unwrapInboundIn(data)
            let payload = String(buffer: frame.unmaskedData)
            switch frame.opcode {
            case .text where payload.contains("emit_id"):
                // A response made over the socket, as the Responses API announces it.
                self.state.withLockedValue { $0.frames.append(payload) }
                self.send(#"{"type":"response.created","response":{"id":"resp_ws1","object":"response"}}"#,
                          opcode: .text, context: context)
            case .text, .binary:
                self.state.withLockedValue { $0.frames.append(payload) }
                var echo = ByteBuffer(string: "echo:")
                echo.writeImmutableBuffer(frame.unmaskedData)
                let reply = WebSocketFrame(fin: true, opcode: frame.opcode, data: echo)
                context.writeAndFlush(self.wrapOutboundOut(reply), promise: nil)
            case .connectionClose:
                let close = WebSocketFrame(fin: true, opcode: .connectionClose, data: frame.unmaskedData)
                context.writeAndFlush(self.wrapOutboundOut(close)).assumeIsolated().whenComplete { _ in
                    context.close(promise: nil)
                }
            default:
                break
            }
        }

        func channelInactive(context: ChannelHandlerContext) {
            self.state.withLockedValue { $0.closedSockets += 1 }
            context.fireChannelInactive()
        }

        private func send(_ text: String, opcode: WebSocketOpcode, context: ChannelHandlerContext) {
            let frame = WebSocketFrame(fin: true, opcode: opcode, data: ByteBuffer(string: text))
            context.writeAndFlush(self.wrapOutboundOut(frame), promise: nil)
        }
    }
}
