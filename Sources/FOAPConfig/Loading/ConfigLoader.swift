import Foundation

/// Reads, validates and freezes the config directory into a ``ConfigSnapshot``.
///
/// The master calls ``load()`` at start and after every change event; `foap check` calls the same code.
/// A load either yields a complete snapshot or fails with *every* error found, so a broken reload changes
/// nothing and the old snapshot keeps serving. Credentials are looked up again at each load, and the client key
/// file named by `FOAP_CLIENT_KEYS` (if any) is read and validated with the rest (see ``clientKeysPath``).
public struct ConfigLoader: Sendable {
    /// The OpenAI routes a model may list as an endpoint `path`, without a leading slash.
    public static let supportedPaths: [String] = [
        "v1/chat/completions",
        "v1/completions",
        "v1/embeddings",
        "v1/moderations",
        "v1/audio/speech",
        "v1/audio/transcriptions",
        "v1/audio/translations",
        "v1/images/generations",
        "v1/images/edits",
        "v1/images/variations",
        "v1/images/data",
        "v1/responses",
        "v1/responses/compact",
        "v1/responses/input_tokens",
        "v1/conversations",
        "v1/batches",
        "v1/files",
        "v1/uploads",
        "v1/messages",
        "v1/messages/count_tokens",
        "v1/rerank",
        "rerank",
        "v2/rerank",
        "v1/score",
        "score",
        "tokenize",
        "detokenize",
        "v1/tokenize",
        "v1/detokenize",
        "v1/classify",
        "pooling",
        "v1/realtime",
    ]

    /// The config directory (`FOAP_CONFIG_DIR`).
    public let directory: String
    /// Where `api_key_variable`s, `CREDENTIALS_DIRECTORY` and `FOAP_CLIENT_KEYS` are looked up.
    public let environment: [String: String]
    /// Unix seconds for ``ConfigSnapshot/loadedAt`` and key expiry warnings; injectable so tests are deterministic.
    let now: @Sendable () -> Int

    public init(directory: String, environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.init(directory: directory, environment: environment, now: { Int(Date().timeIntervalSince1970) })
    }

    /// Like ``init(directory:environment:)`` with a clock, for tests.
    public init(directory: String, environment: [String: String], now: @escaping @Sendable () -> Int) {
        self.directory = directory
        self.environment = environment
        self.now = now
    }

    /// Loads every config file and validates the whole.
    ///
    /// - Returns: the snapshot, with warnings for anything accepted but suspicious (an empty directory
    ///   gives an empty snapshot and a warning).
    /// - Throws: ``ConfigLoadError`` with every error: an unreadable directory, unreadable files, JSON
    ///   syntax (`file:line:column`), validation (`file: key.path`), model ids defined twice.
    public func load() throws(ConfigLoadError) -> ConfigSnapshot {
        let directory = ConfigDirectory(path: self.directory)
        let listing: ConfigDirectory.Listing
        do {
            listing = try directory.listing()
        } catch {
            throw ConfigLoadError(errors: [error])
        }
        let names = listing.configFiles
        var diagnostics = ConfigDiagnostics()
        var digest = SourceDigest()
        var models: [ModelConfig] = []
        if names.isEmpty {
            diagnostics.warning("no *.json files in the config directory", file: self.directory, at: nil)
        }
        for name in listing.otherCaseJSONNames {
            diagnostics.warning(
                "not read: only names ending in '.json' (lower case) are config files", file: name, at: nil)
        }
        let credentials = CredentialResolver(environment: self.environment, configDirectory: self.directory)
        for name in names {
            let bytes: [UInt8]
            do {
                bytes = try directory.contents(of: name)
            } catch {
                diagnostics.append(error)
                continue
            }
            digest.addFile(name: name, contents: bytes)
            let root: JSONNode
            do {
                root = try JSONReader.parse(bytes)
            } catch {
                diagnostics.error(error.message, file: name, at: nil, position: error.position)
                continue
            }
            var validator = ConfigFileValidator(file: name, credentials: credentials)
            validator.validate(root)
            diagnostics.merge(validator.diagnostics)
            for lookup in validator.credentialLookups {
                digest.addCredential(owner: lookup.owner, value: lookup.value)
            }
            models += validator.models
        }
        models = Self.mergeDefinitions(of: models, diagnostics: &diagnostics)
        Self.checkRouteDefaults(of: models, diagnostics: &diagnostics)
        let clientKeys = self.loadClientKeys(models: models, diagnostics: &diagnostics, digest: &digest)
        guard diagnostics.errors.isEmpty else {
            throw ConfigLoadError(errors: diagnostics.errors, warnings: diagnostics.warnings)
        }
        return ConfigSnapshot(
            models: models,
            clientKeys: clientKeys,
            warnings: diagnostics.warnings,
            sourceDigest: digest.finalize(),
            loadedAt: self.now()
        )
    }

    /// A model id defined in several files is one model served by all of them (e.g. OpenAI plus Azure as a
    /// fallback): the later definitions' upstreams join the first's endpoint of the same path, with their own
    /// provider's key, and paths only they serve are added. The first definition's timeouts and pool settings govern.
    /// Defined twice in one file (two providers whose prefixes collide) is an error naming the first place: that is
    /// almost always an accident, and the earlier proxy silently let the last one win.
    /// At most one model per route may serve the requests of that route that name no model
    /// (`default_for_route`): with two, which one serves would depend on file order.
    static func checkRouteDefaults(of models: [ModelConfig], diagnostics: inout ConfigDiagnostics) {
        var owner: [String: String] = [:]
        for model in models {
            for endpoint in model.endpoints where endpoint.defaultForRoute {
                if let first = owner[endpoint.path] {
                    diagnostics.error(
                        "default_for_route: both '\(first)' and '\(model.id)' claim \(endpoint.path); at most one "
                            + "model per route may serve requests without a model",
                        file: model.provider.file, at: ConfigKeyPath(model.provider.name).appending("models")
                            .appending(model.key), position: nil)
                } else {
                    owner[endpoint.path] = model.id
                }
            }
        }
    }

    static func mergeDefinitions(of models: [ModelConfig], diagnostics: inout ConfigDiagnostics) -> [ModelConfig] {
        var merged: [ModelConfig] = []
        var indexByID: [String: Int] = [:]
        for model in models {
            guard let index = indexByID[model.id] else {
                indexByID[model.id] = merged.count
                merged.append(model)
                continue
            }
            let first = merged[index]
            if first.location.file == model.location.file {
                diagnostics.append(
                    ConfigError(
                        file: model.location.file,
                        keyPath: model.location.keyPath,
                        message: "model id \"\(model.id)\" is already defined at \(first.location)"
                    )
                )
                continue
            }
            var endpoints = first.endpoints
            for endpoint in model.endpoints {
                let joining = endpoint.upstreams.map { $0.attributed(to: model.provider) }
                if let existing = endpoints.firstIndex(where: { $0.path == endpoint.path }) {
                    let total = endpoints[existing].upstreams.count + joining.count
                    guard total <= EndpointConfig.maximumUpstreams else {
                        diagnostics.append(
                            ConfigError(
                                file: model.location.file,
                                keyPath: model.location.keyPath,
                                message: "model id \"\(model.id)\" would have \(total) upstreams for \(endpoint.path) with "
                                    + "its other definitions (at most \(EndpointConfig.maximumUpstreams))"
                            )
                        )
                        continue
                    }
                    Self.warnAboutRepeatedUpstreams(
                        endpoint, of: model, to: endpoints[existing], of: first, diagnostics: &diagnostics)
                    endpoints[existing] = endpoints[existing].adding(upstreams: joining)
                } else {
                    endpoints.append(endpoint.replacingUpstreams(with: joining))
                }
            }
            merged[index] = first.replacingEndpoints(with: endpoints)
        }
        return merged
    }

    /// A definition in another file joins the first one's pool by design (its timeouts and pool settings are the
    /// first's, as documented); an upstream it brings that is already in the pool cannot be meant: a copied file
    /// (`cp a.json a-old.json`) would send that upstream twice its share without a word.
    private static func warnAboutRepeatedUpstreams(
        _ endpoint: EndpointConfig, of model: ModelConfig, to existing: EndpointConfig, of first: ModelConfig,
        diagnostics: inout ConfigDiagnostics
    ) {
        for upstream in endpoint.upstreams
        where existing.upstreams.contains(where: {
            $0.baseURL == upstream.baseURL && $0.targetModelName == upstream.targetModelName
        }) {
            diagnostics.warning(
                "model \"\(model.id)\" sends \(endpoint.path) to \(upstream.baseURL) (\(upstream.targetModelName)) "
                    + "here and in \(first.location.file) too: that upstream is in its pool twice (a copied file?)",
                file: model.location.file, at: ConfigKeyPath(model.location.keyPath))
        }
    }
}
