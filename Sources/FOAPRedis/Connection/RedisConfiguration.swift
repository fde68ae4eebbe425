import NIOCore
import NIOSSL

/// Everything a connection needs besides its event loop.
public struct RedisConfiguration: Sendable {
    public var url: RedisURL
    /// How long TCP/TLS connect plus the handshake may take.
    public var connectTimeout: TimeAmount
    /// The default per-call timeout (``RedisConnection/send(_:timeout:)`` may override it).
    public var commandTimeout: TimeAmount
    /// For `rediss://`: the client's TLS settings (default: verify the server against the system's trust roots).
    public var tls: TLSConfiguration
    public var decoderLimits: RESPParser.Limits
    /// `CLIENT SETNAME` after the handshake (shows in `CLIENT LIST`), nil to leave it unset.
    public var clientName: String?
    /// Runs on every new connection after the handshake, before any call uses it (loading a Functions library);
    /// a failure fails the connect.
    public var onConnect: (@Sendable (RedisConnection) -> EventLoopFuture<Void>)?

    public init(
        url: RedisURL,
        connectTimeout: TimeAmount = .seconds(2),
        commandTimeout: TimeAmount = .seconds(1),
        tls: TLSConfiguration = .makeClientConfiguration(),
        decoderLimits: RESPParser.Limits = RESPParser.Limits(),
        clientName: String? = nil,
        onConnect: (@Sendable (RedisConnection) -> EventLoopFuture<Void>)? = nil
    ) {
        self.url = url
        self.connectTimeout = connectTimeout
        self.commandTimeout = commandTimeout
        self.tls = tls
        self.decoderLimits = decoderLimits
        self.clientName = clientName
        self.onConnect = onConnect
    }
}
