/// Turns one parsed config file into models, collecting every error and warning on the way.
///
/// It walks file → providers → models → endpoints in file order, so models come out in config order. A
/// problem in one model does not stop the others from being checked: `foap check` lists everything. A
/// model is produced only when it has no error; the loader refuses the whole load if any error exists.
/// Cross-file rules (duplicate ids) are the loader's job.
struct ConfigFileValidator {
    static let providerKeys: Set<String> = Set([
        "api_key_variable", "api_key_file", "prefix", "target_base_url", "request_timeout", "health_timeout",
        "models", "auth_header",
    ]).union(Self.poolKeys)
    static let modelKeys: Set<String> = ["endpoints"]
    static let endpointKeys: Set<String> = Set([
        "path", "target_model_name", "target_base_url", "request_timeout", "health_timeout", "target_path",
        "default_for_route",
    ]).union(Self.poolKeys)

    /// The file name inside the config directory.
    let file: String
    let credentials: CredentialResolver
    var diagnostics = ConfigDiagnostics()
    private(set) var models: [ModelConfig] = []
    /// Every credential lookup made, for the source digest: rotating a key must change the digest.
    private(set) var credentialLookups: [(owner: String, value: String?)] = []

    init(file: String, credentials: CredentialResolver) {
        self.file = file
        self.credentials = credentials
    }

    /// The settings a provider hands down to its endpoints.
    struct ProviderDefaults {
        var provider: ProviderConfig
        var prefix: String
        var baseURL: ConfigField<String>
        var requestTimeout: ConfigField<Double>
        var healthTimeout: ConfigField<Double>
        var upstreams: ConfigField<[UpstreamSpec]>
        var pool: PoolFields
    }

    /// Validates the file's top-level value: an object of providers.
    mutating func validate(_ root: JSONNode) {
        guard case .object(let providers) = root.value else {
            let found = root.value.kindName
            self.error("the top level must be an object of providers, found \(found)", at: nil, root.position)
            return
        }
        if providers.members.isEmpty {
            self.diagnostics.warning("the file defines no providers", file: self.file, at: nil)
        }
        for member in providers.members {
            self.validateProvider(member)
        }
    }

    private mutating func validateProvider(_ member: JSONMember) {
        let path = ConfigKeyPath(member.key)
        guard let object = self.object(member.value, at: path) else {
            return
        }
        self.warnUnknownKeys(in: object, known: Self.providerKeys, at: path)
        let credential = self.resolveCredential(owner: member.key, in: object, at: path)
        let prefix = self.string("prefix", in: object, at: path)
        let authHeader = self.authHeader(in: object, at: path)
        let defaults = ProviderDefaults(
            provider: ProviderConfig(
                name: member.key, file: self.file, credential: credential ?? .none, authHeader: authHeader),
            prefix: prefix.value ?? "",
            baseURL: self.baseURL("target_base_url", in: object, at: path),
            requestTimeout: self.timeout("request_timeout", in: object, at: path),
            healthTimeout: self.timeout("health_timeout", in: object, at: path),
            upstreams: self.upstreamSpecs(in: object, at: path),
            pool: self.poolFields(in: object, at: path)
        )
        if object["target_base_url"] != nil, object["upstreams"] != nil {
            self.error("set target_base_url or upstreams, not both", at: path.appending("upstreams"),
                       object["upstreams"]!.value.position)
        }
        guard let models = object["models"] else {
            self.missing("models", at: path, member.value.position)
            return
        }
        let modelsPath = path.appending("models")
        guard let modelObject = self.object(models.value, at: modelsPath) else {
            return
        }
        if modelObject.members.isEmpty {
            self.diagnostics.warning("the provider defines no models", file: self.file, at: modelsPath)
        }
        for model in modelObject.members {
            self.validateModel(model, at: modelsPath.appending(model.key), defaults: defaults)
        }
    }

    /// Reads `api_key_variable` / `api_key_file` of a provider or an upstream (`owner`) and resolves them. Returns
    /// nil when the settings are invalid (already reported). An empty `api_key_variable` means "no key", as it did
    /// for the earlier proxy.
    mutating func resolveCredential(
        owner: String,
        in object: JSONObject,
        at path: ConfigKeyPath
    ) -> Credential? {
        let variable = self.string("api_key_variable", in: object, at: path)
        let keyFile = self.nonEmptyString("api_key_file", in: object, at: path)
        if case .invalid = variable { return nil }
        if case .invalid = keyFile { return nil }
        let variableName = variable.value.flatMap { $0.isEmpty ? nil : $0 }
        let resolution = self.credentials.resolve(variable: variableName, keyFile: keyFile.value)
        if let lookup = resolution.lookupName {
            self.credentialLookups.append((owner: "\(self.file)\u{0}\(owner)", value: resolution.secret))
            if resolution.secret == nil {
                let key = variableName == nil ? "api_key_file" : "api_key_variable"
                let message = "no upstream key found for \(lookup) (\(resolution.searched))"
                self.diagnostics.warning(
                    message + "; requests for this provider will fail",
                    file: self.file,
                    at: path.appending(key)
                )
            }
        }
        return resolution.credential
    }

    private mutating func validateModel(_ member: JSONMember, at path: ConfigKeyPath, defaults: ProviderDefaults) {
        guard let object = self.object(member.value, at: path) else {
            return
        }
        self.warnUnknownKeys(in: object, known: Self.modelKeys, at: path)
        let id = defaults.prefix + member.key
        var valid = true
        if id.isEmpty {
            self.error("the model id (prefix + model key) must not be empty", at: path, member.keyPosition)
            valid = false
        }
        guard let endpointsMember = object["endpoints"] else {
            self.missing("endpoints", at: path, member.value.position)
            return
        }
        let endpointsPath = path.appending("endpoints")
        guard case .array(let elements) = endpointsMember.value.value else {
            let found = endpointsMember.value.value.kindName
            let position = endpointsMember.value.position
            self.error("expected an array of endpoints, found \(found)", at: endpointsPath, position)
            return
        }
        if elements.isEmpty {
            self.error("a model needs at least one endpoint", at: endpointsPath, endpointsMember.value.position)
            return
        }
        var endpoints: [EndpointConfig] = []
        var indexByPath: [String: Int] = [:]
        for (index, element) in elements.enumerated() {
            let endpointPath = endpointsPath.appending(index: index)
            guard let endpoint = self.validateEndpoint(element, at: endpointPath, defaults: defaults) else {
                valid = false
                continue
            }
            if let first = indexByPath[endpoint.path] {
                self.error(
                    "duplicate path, already served by endpoints[\(first)]",
                    at: endpointPath.appending("path"),
                    element.position
                )
                valid = false
                continue
            }
            indexByPath[endpoint.path] = index
            endpoints.append(endpoint)
        }
        guard valid else {
            return
        }
        self.models.append(
            ModelConfig(
                id: id,
                key: member.key,
                provider: defaults.provider,
                endpoints: endpoints,
                location: ConfigLocation(file: self.file, keyPath: path.description)
            )
        )
    }
}
