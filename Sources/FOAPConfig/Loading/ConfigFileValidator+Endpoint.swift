/// Endpoint validation: required keys, the path whitelist, and inheritance of provider defaults.
extension ConfigFileValidator {
    /// Validates one element of a model's `endpoints`; nil when anything about it is wrong (reported).
    ///
    /// A `path` written with a leading `/` is accepted with the slash trimmed and a warning: the intent is
    /// unambiguous, and refusing it would turn a cosmetic slip into an outage on reload.
    mutating func validateEndpoint(
        _ node: JSONNode,
        at path: ConfigKeyPath,
        defaults: ProviderDefaults
    ) -> EndpointConfig? {
        guard let object = self.object(node, at: path) else {
            return nil
        }
        self.warnUnknownKeys(in: object, known: Self.endpointKeys, at: path)

        let routePath = self.routePath(in: object, at: path, position: node.position)
        let targetModelName = self.nonEmptyString("target_model_name", in: object, at: path)
        let ownBaseURL = self.baseURL("target_base_url", in: object, at: path)
        let ownUpstreams = self.upstreamSpecs(in: object, at: path)
        if object["target_base_url"] != nil, object["upstreams"] != nil {
            self.error("set target_base_url or upstreams, not both", at: path.appending("upstreams"),
                       object["upstreams"]!.value.position)
            return nil
        }
        // The endpoint's own target (either key) replaces the provider's (either key) as a whole.
        let ownsTarget = object["target_base_url"] != nil || object["upstreams"] != nil
        let baseURL = ownsTarget ? ownBaseURL : defaults.baseURL
        let specs = ownsTarget ? ownUpstreams : defaults.upstreams
        if case .absent = baseURL, case .absent = specs {
            self.missing("target_base_url", at: path, node.position, hint: " (set it or upstreams here or on the provider)")
        }
        let requestTimeout = self.timeout("request_timeout", in: object, at: path).orInherited(defaults.requestTimeout)
        let healthTimeout = self.timeout("health_timeout", in: object, at: path).orInherited(defaults.healthTimeout)
        let pool = self.poolFields(in: object, at: path).orInherited(defaults.pool)

        var upstreams: [UpstreamConfig]?
        if let baseURL = baseURL.value {
            if case .absent = targetModelName {
                self.missing("target_model_name", at: path, node.position)
            }
            upstreams = targetModelName.value.map { [UpstreamConfig(baseURL: baseURL, targetModelName: $0)] }
        } else if let specs = specs.value, targetModelName.isUsable {
            upstreams = self.bind(specs, endpointModelName: targetModelName.value)
            if upstreams == nil {
                self.missing("target_model_name", at: path, node.position, hint: " (set it here or on every upstream)")
            }
        }
        guard let routePath, let upstreams, pool.isValid else {
            return nil
        }
        if case .invalid = requestTimeout { return nil }
        if case .invalid = healthTimeout { return nil }
        return EndpointConfig(
            path: routePath,
            upstreams: upstreams,
            requestTimeout: requestTimeout.value ?? EndpointConfig.defaultTimeout,
            healthTimeout: healthTimeout.value ?? EndpointConfig.defaultTimeout,
            policy: pool.policy,
            injectStreamUsage: pool.injectStreamUsage.value ?? false
        )
    }

    /// The endpoint's `path`, without a leading `/`, if it is one of ``ConfigLoader/supportedPaths``.
    private mutating func routePath(in object: JSONObject, at path: ConfigKeyPath, position: JSONPosition) -> String? {
        let field = self.string("path", in: object, at: path)
        if case .absent = field {
            self.missing("path", at: path, position)
        }
        guard var routePath = field.value, let member = object["path"] else {
            return nil
        }
        if routePath.hasPrefix("/") {
            routePath.removeFirst()
            self.diagnostics.warning(
                "leading '/' ignored; write paths like v1/chat/completions",
                file: self.file,
                at: path.appending("path")
            )
        }
        guard ConfigLoader.supportedPaths.contains(routePath) else {
            self.error(
                "unsupported path; expected one of: " + ConfigLoader.supportedPaths.joined(separator: ", "),
                at: path.appending("path"),
                member.value.position
            )
            return nil
        }
        return routePath
    }
}
