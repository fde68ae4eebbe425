/// One route a model serves, and how to reach its upstream.
public struct EndpointConfig: Sendable, Equatable, Codable {
    /// The OpenAI route, without a leading slash, e.g. `v1/chat/completions`; one of
    /// ``ConfigLoader/supportedPaths``.
    public let path: String
    /// The endpoint's or else the provider's `target_base_url`, trailing `/` trimmed. May carry a path
    /// prefix, e.g. `http://10.0.0.5:8080/openai`.
    public let targetBaseURL: String
    /// The model name the upstream expects; the proxy writes it into the forwarded body.
    public let targetModelName: String
    /// Seconds allowed for an upstream request: endpoint, else provider, else 60.
    public let requestTimeout: Double
    /// Seconds allowed for a health probe: endpoint, else provider, else 60.
    public let healthTimeout: Double

    /// The timeout used when neither the endpoint nor its provider sets one.
    public static let defaultTimeout: Double = 60

    /// The largest timeout accepted (one year), so converting a timeout to `Int64` nanoseconds can never
    /// overflow in the proxy.
    public static let maximumTimeout: Double = 365 * 24 * 60 * 60

    public init(
        path: String,
        targetBaseURL: String,
        targetModelName: String,
        requestTimeout: Double = EndpointConfig.defaultTimeout,
        healthTimeout: Double = EndpointConfig.defaultTimeout
    ) {
        self.path = path
        self.targetBaseURL = targetBaseURL
        self.targetModelName = targetModelName
        self.requestTimeout = requestTimeout
        self.healthTimeout = healthTimeout
    }

    /// The full upstream URL: base + `/` + path (the format page's rule, kept in one place).
    public var upstreamURL: String {
        self.targetBaseURL + "/" + self.path
    }
}
