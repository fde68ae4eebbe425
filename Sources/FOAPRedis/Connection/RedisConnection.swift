import NIOCore
import NIOPosix
import NIOSSL

/// One connection to Redis: a NIO channel with a pipelining handler, after the handshake.
///
/// Calls may come from any thread; they are written in call order and answered in that order. It does not
/// reconnect: ``RedisClient`` replaces a closed connection.
public final class RedisConnection: Sendable {
    public let channel: any Channel
    /// 3 after `HELLO 3`, 2 when the server did not know HELLO (Redis < 6) or refused RESP3.
    public let protocolVersion: Int
    let defaultTimeout: TimeAmount

    init(channel: any Channel, protocolVersion: Int, defaultTimeout: TimeAmount) {
        self.channel = channel
        self.protocolVersion = protocolVersion
        self.defaultTimeout = defaultTimeout
    }

    public var eventLoop: any EventLoop {
        self.channel.eventLoop
    }

    public var isActive: Bool {
        self.channel.isActive
    }

    /// Completes when the connection is gone, for whatever reason.
    public var closeFuture: EventLoopFuture<Void> {
        self.channel.closeFuture
    }

    /// Sends one command; the future fails with ``RedisError/server(_:)`` for an error reply and with
    /// ``RedisError/timeout(command:)`` when no reply came within `timeout` (the configuration's by default).
    public func send(_ command: RedisCommand, timeout: TimeAmount? = nil) -> EventLoopFuture<RESPValue> {
        let promise = self.channel.eventLoop.makePromise(of: RESPValue.self)
        let request = RedisRequest(command: command, promise: promise, timeout: timeout ?? self.defaultTimeout)
        self.channel.writeAndFlush(request).whenFailure { error in
            promise.fail(error)  // no-op when the handler already failed it
        }
        return promise.futureResult
    }

    public func close() -> EventLoopFuture<Void> {
        self.channel.close().recover { _ in }
    }

    /// Connects, shakes hands and runs the configuration's `onConnect`.
    public static func connect(
        _ configuration: RedisConfiguration,
        sslContext: NIOSSLContext? = nil,
        on eventLoop: any EventLoop
    ) -> EventLoopFuture<RedisConnection> {
        let url = configuration.url
        let serverHostname = Self.tlsHostname(url)
        let limits = configuration.decoderLimits
        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(configuration.connectTimeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    if let sslContext {
                        try sync.addHandler(NIOSSLClientHandler(context: sslContext, serverHostname: serverHostname))
                    }
                    try sync.addHandler(ByteToMessageHandler(RESPDecoder(limits: limits)))
                    try sync.addHandler(RedisConnectionHandler())
                }
            }
        let channel: EventLoopFuture<any Channel>
        switch url.endpoint {
        case .tcp(let host, let port):
            channel = bootstrap.connect(host: host, port: port)
        case .unixSocket(let path):
            channel = bootstrap.connect(unixDomainSocketPath: path)
        }
        return channel.flatMap { channel in
            let deadline = eventLoop.scheduleTask(in: configuration.connectTimeout) {
                channel.close(promise: nil)
            }
            return RedisHandshake(configuration: configuration).run(on: channel).flatMap { connection in
                guard let onConnect = configuration.onConnect else {
                    return eventLoop.makeSucceededFuture(connection)
                }
                return onConnect(connection).map { connection }
            }.always { _ in
                deadline.cancel()
            }.flatMapErrorThrowing { error in
                channel.close(promise: nil)
                throw error
            }
        }
    }

    /// SNI and certificate names are host names: an IP address literal is neither, so it is sent as none.
    private static func tlsHostname(_ url: RedisURL) -> String? {
        guard case .tcp(let host, _) = url.endpoint, !host.contains(":"), !host.allSatisfy({ $0.isNumber || $0 == "." })
        else {
            return nil
        }
        return host
    }
}
