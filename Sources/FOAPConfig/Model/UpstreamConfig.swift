/// One server behind an endpoint: where it is, what it calls the model, how much traffic it takes, its key.
public struct UpstreamConfig: Sendable, Equatable, Codable {
    /// `http(s)://host[:port][/prefix]`, trailing `/` trimmed.
    public let baseURL: String
    /// The model name this upstream expects; written into the forwarded body.
    public let targetModelName: String
    /// Share of traffic relative to the other upstreams of the endpoint (1...1000, default 1).
    public let weight: Int
    /// Its own key (`api_key_variable`/`api_key_file` on the upstream, or the provider it came from when a model is
    /// defined in several files); nil: the key of the model's provider.
    public let credential: Credential?
    /// The provider it came from when that is not the model's own (a model defined in several files).
    public let provider: String?
    /// That provider's `auth_header`; nil: the model's provider's.
    public let authHeader: UpstreamAuthHeader?

    public init(
        baseURL: String,
        targetModelName: String,
        weight: Int = 1,
        credential: Credential? = nil,
        provider: String? = nil,
        authHeader: UpstreamAuthHeader? = nil
    ) {
        self.authHeader = authHeader
        self.baseURL = baseURL
        self.targetModelName = targetModelName
        self.weight = weight
        self.credential = credential
        self.provider = provider
    }

    /// The same upstream with its key and provider made explicit (it joins a model defined elsewhere).
    func attributed(to provider: ProviderConfig) -> UpstreamConfig {
        UpstreamConfig(
            baseURL: self.baseURL,
            targetModelName: self.targetModelName,
            weight: self.weight,
            credential: self.credential ?? provider.credential,
            provider: self.provider ?? provider.name,
            authHeader: self.authHeader ?? provider.authHeader
        )
    }
}

/// How an endpoint with several upstreams picks one for a request.
public enum BalancingStrategy: String, Sendable, Equatable, Codable, CaseIterable {
    /// The upstream with the fewest requests in flight from this worker; ties go by weight, in turn.
    case leastInflight = "least_inflight"
    /// Each upstream in turn, weights ignored.
    case roundRobin = "round_robin"
    /// In turn, in proportion to the weights (smooth weighted round robin, as nginx does).
    case weighted
    /// The first healthy upstream in list order: a primary, then fallbacks.
    case ordered
}

/// Failover and passive health settings of an endpoint (endpoint, else provider, else these defaults).
public struct PoolPolicy: Sendable, Equatable, Codable {
    public let strategy: BalancingStrategy
    /// Extra attempts on other upstreams before any byte reached the client; nil: one per other upstream.
    public let retries: Int?
    /// Seconds to the first body byte (of a stream or not), separate from the per-gap `request_timeout`; nil: none.
    public let firstByteTimeout: Double?
    /// Consecutive failures that put an upstream into cooldown.
    public let maxFails: Int
    /// Seconds of the first cooldown; each further one in a row doubles it, up to ``maximumCooldown``.
    public let cooldown: Double

    public static let defaultMaxFails = 3
    public static let defaultCooldown: Double = 5
    public static let maximumCooldown: Double = 300
    public static let maximumRetries = 10

    public init(
        strategy: BalancingStrategy = .leastInflight,
        retries: Int? = nil,
        firstByteTimeout: Double? = nil,
        maxFails: Int = PoolPolicy.defaultMaxFails,
        cooldown: Double = PoolPolicy.defaultCooldown
    ) {
        self.strategy = strategy
        self.retries = retries
        self.firstByteTimeout = firstByteTimeout
        self.maxFails = maxFails
        self.cooldown = cooldown
    }

    /// Attempts a request may make on an endpoint of `upstreamCount` upstreams (each on a different one).
    public func maximumAttempts(upstreamCount: Int) -> Int {
        min(upstreamCount, 1 + (self.retries ?? upstreamCount - 1))
    }
}
