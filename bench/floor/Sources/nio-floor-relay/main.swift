// nio-floor-relay LISTEN_PORT UPSTREAM_PORT
//
// The fastest a proxy on SwiftNIO's channel pipeline could be: a pure TCP byte relay on one event loop thread (one
// foap worker's worth). Each accepted connection on 127.0.0.1:LISTEN_PORT gets its own connection to
// 127.0.0.1:UPSTREAM_PORT on the same event loop; every ByteBuffer read on one side is written and flushed to the
// other, and when either side closes the other is closed. No HTTP parsing at all.
import NIOCore
import NIOPosix

/// One side of a relayed pair: forwards what it reads to `peer`, and closes `peer` when its own channel goes away.
/// On the accepted side (`upstreamPort` set) it also opens the upstream connection; the accepted channel starts with
/// autoRead off, so bytes the client sends before then wait in the kernel and are read once the upstream is up.
final class RelayHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private var peer: Channel?
    private let upstreamPort: Int?

    init(peer: Channel) {
        self.peer = peer
        self.upstreamPort = nil
    }

    init(upstreamPort: Int) {
        self.peer = nil
        self.upstreamPort = upstreamPort
    }

    func channelActive(context: ChannelHandlerContext) {
        context.fireChannelActive()
        guard let upstreamPort else { return }
        let client = context.channel
        ClientBootstrap(group: context.eventLoop)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelInitializer { upstream in
                upstream.eventLoop.makeCompletedFuture {
                    try upstream.pipeline.syncOperations.addHandler(RelayHandler(peer: client))
                }
            }
            .connect(host: "127.0.0.1", port: upstreamPort)
            .assumeIsolated()
            .whenComplete { result in
                switch result {
                case .success(let upstream):
                    guard client.isActive else {
                        upstream.close(promise: nil)
                        return
                    }
                    self.peer = upstream
                    client.setOption(.autoRead, value: true).whenFailure { _ in client.close(promise: nil) }
                case .failure:
                    client.close(promise: nil)
                }
            }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        self.peer?.writeAndFlush(self.unwrapInboundIn(data), promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.peer?.close(promise: nil)
        self.peer = nil
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }
}

let arguments = CommandLine.arguments
guard arguments.count == 3, let listenPort = Int(arguments[1]), let upstreamPort = Int(arguments[2]) else {
    print("usage: nio-floor-relay LISTEN_PORT UPSTREAM_PORT")
    exit(2)
}

let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
let server = try ServerBootstrap(group: group)
    .serverChannelOption(.backlog, value: 4096)
    .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
    .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
    .childChannelOption(.maxMessagesPerRead, value: 16)
    .childChannelOption(.autoRead, value: false)
    .childChannelInitializer { channel in
        channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(RelayHandler(upstreamPort: upstreamPort))
        }
    }
    .bind(host: "127.0.0.1", port: listenPort)
    .wait()
print("nio-floor-relay: 127.0.0.1:\(listenPort) -> 127.0.0.1:\(upstreamPort)")
try server.closeFuture.wait()
