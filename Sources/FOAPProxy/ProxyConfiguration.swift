import NIOCore

/// Settings of the proxy that do not come from the model config files (they come from the environment and the
/// command line, see the README's configuration reference).
public struct ProxyConfiguration: Sendable {
    /// Largest request body accepted (`FOAP_MAX_BODY_SIZE`); larger ones get a 413. JSON bodies are held whole up
    /// to this size, multipart uploads stream.
    public var maxBodySize: Int = 100 * 1024 * 1024
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
    /// The upstream HTTP client.
    public var upstream = UpstreamClientConfiguration()

    public init() {}
}
