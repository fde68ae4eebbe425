/// The provider a model belongs to: its name, its file and its resolved credential.
///
/// Copied into every ``ModelConfig`` so a worker needs one dictionary lookup per request.
public struct ProviderConfig: Sendable, Equatable, Codable {
    /// The provider's key at the top level of its file, e.g. `openAI`.
    public let name: String
    /// The file name the provider is defined in, e.g. `openAI-example.json`.
    public let file: String
    /// The upstream key, resolved at load time.
    public let credential: Credential
    /// How the key is sent upstream (`auth_header`).
    public let authHeader: UpstreamAuthHeader

    public init(name: String, file: String, credential: Credential, authHeader: UpstreamAuthHeader = .authorization) {
        self.name = name
        self.file = file
        self.credential = credential
        self.authHeader = authHeader
    }
}

/// How a provider's key is sent to its upstreams.
public enum UpstreamAuthHeader: String, Sendable, Equatable, Codable, CaseIterable {
    /// `Authorization: Bearer <key>` (OpenAI and every OpenAI-compatible server).
    case authorization
    /// `x-api-key: <key>` (api.anthropic.com).
    case xAPIKey = "x-api-key"
}
