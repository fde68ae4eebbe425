import NIOCore

/// Settings of the proxy that do not come from the model config files (they come from the environment and the
/// command line, see the README's configuration reference).
public struct ProxyConfiguration: Sendable {
    /// Largest request body accepted (`FOAP_MAX_BODY_SIZE`); larger ones get a 413. JSON bodies are held whole up
    /// to this size, multipart uploads stream.
    public var maxBodySize: Int = 100 * 1024 * 1024
    /// Largest rest of a body that is read and dropped to keep the connection open when a request is refused
    /// before its body has arrived (and the largest body of a route that takes none). Larger ones are not read:
    /// the refusal goes out at once and the connection closes.
    public var maxDiscardedBodySize: Int = 64 * 1024
    /// The longest gap between two reads of a request body (`FOAP_BODY_TIMEOUT`, like nginx's
    /// `client_body_timeout`); past it the request gets a 408 and the connection closes. Gaps the proxy causes
    /// itself (upload backpressure from a slow upstream) do not count.
    public var bodyTimeout: TimeAmount = .seconds(60)
    /// After an early answer with `Connection: close` while the client was still sending its body, how long the
    /// connection stays half-open, reading and dropping, so that the client can read the answer before the
    /// close (closing with unread bytes would reset the connection and could destroy the answer in flight).
    public var lingerTimeout: TimeAmount = .seconds(2)
    /// Largest image response that is held to rewrite `data[].url` values; larger answers pass through unchanged.
    public var maxRewrittenResponseSize: Int = 16 * 1024 * 1024
    /// The gateway's public base URL (`BASE_URL`), used to rewrite image URLs.
    public var baseURL: String = "http://localhost:8000"
    /// While draining, how long a keep-alive connection must sit idle before it is closed. Closing idle
    /// connections at once loses requests that clients send at that very moment (the keep-alive race).
    public var drainIdleGrace: TimeAmount = .milliseconds(500)
    /// How long a client connection may sit idle between requests before it is closed (`FOAP_KEEPALIVE_TIMEOUT`).
    public var keepAliveTimeout: TimeAmount = .seconds(75)
    /// How long `GET /metrics` waits for the master's sum before it answers 503 `metrics_unavailable`.
    public var metricsTimeout: TimeAmount = .seconds(2)
    /// The secret of the id trailers (`FOAP_ID_SECRET`): Responses follow-ups and retrieves go back to the upstream
    /// that made the id. nil: ids pass unchanged and follow-ups are balanced like any request.
    public var idSecret: [UInt8]?
    /// How admission estimates tokens for keys with limits.
    public var limits = LimitsSettings()
    /// The upstream HTTP client.
    public var upstream = UpstreamClientConfiguration()

    public init() {}
}
