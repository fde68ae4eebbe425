/// One exposed model: its id, the routes it serves and the provider behind it.
///
/// Its fields sit behind one reference: the proxy copies a model's config several times per request (resolved,
/// held by the upstream request, handed to the attempts), and copying a dozen strings and arrays one by one cost
/// ~1,500 instructions per request in bench/profile. Encoded and compared as the fields themselves.
public struct ModelConfig: Sendable, Equatable, Codable {
    /// The fields as they were a struct's own (the same names encode the same JSON).
    private struct Fields: Sendable, Equatable, Codable {
        let id: String
        let key: String
        let provider: ProviderConfig
        let endpoints: [EndpointConfig]
        let location: ConfigLocation
    }

    private let storage: FieldsBox<Fields>

    /// The exposed id, `prefix + modelKey`; may contain `/` (e.g. `meta-llama/Llama-3.1-8B`).
    public var id: String { self.storage.fields.id }
    /// The model key as written in the file.
    public var key: String { self.storage.fields.key }
    public var provider: ProviderConfig { self.storage.fields.provider }
    /// The provider's name, read without a copy of the whole provider (every request reads it: a copy of the
    /// provider and its release cost ~160 instructions each time in bench/profile).
    public var providerName: String { self.storage.fields.provider.name }
    /// In file order; at most one per path.
    public var endpoints: [EndpointConfig] { self.storage.fields.endpoints }
    /// Where the model is defined, e.g. `openAI-example.json: openAI.models.gpt-4o`.
    public var location: ConfigLocation { self.storage.fields.location }

    public init(
        id: String,
        key: String,
        provider: ProviderConfig,
        endpoints: [EndpointConfig],
        location: ConfigLocation
    ) {
        self.storage = FieldsBox(Fields(id: id, key: key, provider: provider, endpoints: endpoints, location: location))
    }

    public init(from decoder: any Decoder) throws {
        self.storage = FieldsBox(try Fields(from: decoder))
    }

    public func encode(to encoder: any Encoder) throws {
        try self.storage.fields.encode(to: encoder)
    }

    public static func == (lhs: ModelConfig, rhs: ModelConfig) -> Bool {
        lhs.storage === rhs.storage || lhs.storage.fields == rhs.storage.fields
    }

    /// The endpoint serving `path` (e.g. `v1/chat/completions`, no leading slash), if the model has one.
    ///
    /// A linear scan: a model has at most a dozen endpoints, fewer than a hash would pay off for.
    public func endpoint(for path: String) -> EndpointConfig? {
        self.storage.fields.endpoints.first { $0.path == path }
    }

    func replacingEndpoints(with endpoints: [EndpointConfig]) -> ModelConfig {
        ModelConfig(id: self.id, key: self.key, provider: self.provider, endpoints: endpoints, location: self.location)
    }

    /// The key `upstream` is called with: its own, else the provider's.
    public func credential(of upstream: UpstreamConfig) -> Credential {
        upstream.credential ?? self.storage.fields.provider.credential
    }

    /// How `upstream` takes its key: its own provider's way (a model defined in several files), else the model's
    /// (read as `providerName` is, without a copy of the provider).
    public func authHeader(of upstream: UpstreamConfig) -> UpstreamAuthHeader {
        upstream.authHeader ?? self.storage.fields.provider.authHeader
    }
}
