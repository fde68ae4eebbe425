/// One route a model serves, and the upstreams that serve it.
///
/// Its fields sit behind one reference, as `ModelConfig`'s do: copied per request, one by one they cost ~1,100
/// instructions in bench/profile. Encoded and compared as the fields themselves.
public struct EndpointConfig: Sendable, Equatable, Codable {
    /// The fields as they were a struct's own (the same names encode the same JSON).
    private struct Fields: Sendable, Equatable, Codable {
        let path: String
        let upstreams: [UpstreamConfig]
        let requestTimeout: Double
        let healthTimeout: Double
        let policy: PoolPolicy
        let injectStreamUsage: Bool
        let targetPath: String?
        let defaultForRoute: Bool
    }

    private let storage: FieldsBox<Fields>

    /// The OpenAI route, without a leading slash, e.g. `v1/chat/completions`; one of
    /// ``ConfigLoader/supportedPaths``.
    public var path: String { self.storage.fields.path }
    /// At least one; a single `target_base_url` is a pool of one.
    public var upstreams: [UpstreamConfig] { self.storage.fields.upstreams }
    /// Seconds allowed for an upstream request: endpoint, else provider, else 60.
    public var requestTimeout: Double { self.storage.fields.requestTimeout }
    /// Seconds allowed for a health probe: endpoint, else provider, else 60.
    public var healthTimeout: Double { self.storage.fields.healthTimeout }
    /// Balancing, failover and passive health.
    public var policy: PoolPolicy { self.storage.fields.policy }
    /// `inject_stream_usage`: ask for usage in streams that do not (`stream_options.include_usage`), so the access
    /// record and the token metrics count them; the extra usage chunk is not shown to the client.
    public var injectStreamUsage: Bool { self.storage.fields.injectStreamUsage }
    /// The upstream's path when it differs from the client's (`target_path`: llama.cpp's `reranking`, TEI's
    /// `rerank`); nil: the same path.
    public var targetPath: String? { self.storage.fields.targetPath }
    /// Serves the requests of this route that name no model (`default_for_route`, e.g. llama.cpp's `tokenize`).
    public var defaultForRoute: Bool { self.storage.fields.defaultForRoute }

    /// The same for every copy of this endpoint (and different for any other that exists at the same time): the
    /// proxy finds what it precomputed for a snapshot's endpoint by it, without hashing its strings.
    public var identity: ObjectIdentifier { ObjectIdentifier(self.storage) }

    public init(from decoder: any Decoder) throws {
        self.storage = FieldsBox(try Fields(from: decoder))
    }

    public func encode(to encoder: any Encoder) throws {
        try self.storage.fields.encode(to: encoder)
    }

    public static func == (lhs: EndpointConfig, rhs: EndpointConfig) -> Bool {
        lhs.storage === rhs.storage || lhs.storage.fields == rhs.storage.fields
    }

    /// The most upstreams one endpoint may have (the proxy tracks a request's tried upstreams in one 64-bit word).
    public static let maximumUpstreams = 64

    /// The timeout used when neither the endpoint nor its provider sets one.
    public static let defaultTimeout: Double = 60

    /// The largest timeout accepted (one year), so converting a timeout to `Int64` nanoseconds can never
    /// overflow in the proxy.
    public static let maximumTimeout: Double = 365 * 24 * 60 * 60

    public init(
        path: String,
        upstreams: [UpstreamConfig],
        requestTimeout: Double = EndpointConfig.defaultTimeout,
        healthTimeout: Double = EndpointConfig.defaultTimeout,
        policy: PoolPolicy = PoolPolicy(),
        injectStreamUsage: Bool = false,
        targetPath: String? = nil,
        defaultForRoute: Bool = false
    ) {
        precondition(!upstreams.isEmpty, "an endpoint needs at least one upstream")
        self.storage = FieldsBox(
            Fields(
                path: path, upstreams: upstreams, requestTimeout: requestTimeout, healthTimeout: healthTimeout,
                policy: policy, injectStreamUsage: injectStreamUsage, targetPath: targetPath,
                defaultForRoute: defaultForRoute))
    }

    /// A single upstream with the provider's key: the format every existing config file uses.
    public init(
        path: String,
        targetBaseURL: String,
        targetModelName: String,
        requestTimeout: Double = EndpointConfig.defaultTimeout,
        healthTimeout: Double = EndpointConfig.defaultTimeout
    ) {
        self.init(
            path: path,
            upstreams: [UpstreamConfig(baseURL: targetBaseURL, targetModelName: targetModelName)],
            requestTimeout: requestTimeout,
            healthTimeout: healthTimeout
        )
    }

    /// The first upstream's base URL (the only one for most endpoints).
    public var targetBaseURL: String { self.upstreams[0].baseURL }
    /// The first upstream's model name.
    public var targetModelName: String { self.upstreams[0].targetModelName }
    /// The first upstream's URL for this route.
    public var upstreamURL: String { self.upstreamURL(0) }

    /// The full URL of upstream `index`: base + `/` + `upstreamPath` (the format page's rule, kept in one place).
    public func upstreamURL(_ index: Int) -> String {
        self.upstreams[index].baseURL + "/" + self.upstreamPath
    }

    /// The path the upstreams are asked on: `target_path`, else the client's route.
    public var upstreamPath: String { self.targetPath ?? self.path }

    /// This endpoint with `others` appended to its upstreams (a model defined again in another file); its own
    /// timeouts and policy govern the whole pool.
    func adding(upstreams others: [UpstreamConfig]) -> EndpointConfig {
        self.replacingUpstreams(with: self.upstreams + others)
    }

    /// This endpoint's settings with other upstreams.
    func replacingUpstreams(with upstreams: [UpstreamConfig]) -> EndpointConfig {
        EndpointConfig(
            path: self.path,
            upstreams: upstreams,
            requestTimeout: self.requestTimeout,
            healthTimeout: self.healthTimeout,
            policy: self.policy,
            injectStreamUsage: self.injectStreamUsage,
            targetPath: self.targetPath,
            defaultForRoute: self.defaultForRoute
        )
    }
}
