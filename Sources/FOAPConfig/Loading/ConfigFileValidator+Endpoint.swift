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
        if case .absent = targetModelName {
            self.missing("target_model_name", at: path, node.position)
        }
        let baseURL = self.baseURL("target_base_url", in: object, at: path).orInherited(defaults.baseURL)
        if case .absent = baseURL {
            self.missing("target_base_url", at: path, node.position, hint: " (set it here or on the provider)")
        }
        let requestTimeout = self.timeout("request_timeout", in: object, at: path).orInherited(defaults.requestTimeout)
        let healthTimeout = self.timeout("health_timeout", in: object, at: path).orInherited(defaults.healthTimeout)

        guard let routePath, let targetModelName = targetModelName.value, let baseURL = baseURL.value else {
            return nil
        }
        if case .invalid = requestTimeout { return nil }
        if case .invalid = healthTimeout { return nil }
        return EndpointConfig(
            path: routePath,
            targetBaseURL: baseURL,
            targetModelName: targetModelName,
            requestTimeout: requestTimeout.value ?? EndpointConfig.defaultTimeout,
            healthTimeout: healthTimeout.value ?? EndpointConfig.defaultTimeout
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
