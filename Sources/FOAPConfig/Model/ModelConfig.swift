/// One exposed model: its id, the routes it serves and the provider behind it.
public struct ModelConfig: Sendable, Equatable, Codable {
    /// The exposed id, `prefix + modelKey`; may contain `/` (e.g. `meta-llama/Llama-3.1-8B`).
    public let id: String
    /// The model key as written in the file.
    public let key: String
    public let provider: ProviderConfig
    /// In file order; at most one per path.
    public let endpoints: [EndpointConfig]
    /// Where the model is defined, e.g. `openAI-example.json: openAI.models.gpt-4o`.
    public let location: ConfigLocation

    public init(
        id: String,
        key: String,
        provider: ProviderConfig,
        endpoints: [EndpointConfig],
        location: ConfigLocation
    ) {
        self.id = id
        self.key = key
        self.provider = provider
        self.endpoints = endpoints
        self.location = location
    }

    /// The endpoint serving `path` (e.g. `v1/chat/completions`, no leading slash), if the model has one.
    ///
    /// A linear scan: a model has at most a dozen endpoints, fewer than a hash would pay off for.
    public func endpoint(for path: String) -> EndpointConfig? {
        self.endpoints.first { $0.path == path }
    }

    func replacingEndpoints(with endpoints: [EndpointConfig]) -> ModelConfig {
        ModelConfig(id: self.id, key: self.key, provider: self.provider, endpoints: endpoints, location: self.location)
    }

    /// The key `upstream` is called with: its own, else the provider's.
    public func credential(of upstream: UpstreamConfig) -> Credential {
        upstream.credential ?? self.provider.credential
    }
}
