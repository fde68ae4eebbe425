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
        let targetPath = self.targetPath(in: object, at: path)
        let defaultForRoute = self.flag("default_for_route", in: object, at: path)
        guard let routePath, let upstreams, pool.isValid, targetPath.isUsable, defaultForRoute.isUsable else {
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
            injectStreamUsage: pool.injectStreamUsage.value ?? false,
            targetPath: targetPath.value,
            defaultForRoute: defaultForRoute.value ?? false
        )
    }

    /// `target_path`: a path on the upstream, relative to its base URL (a leading `/` is trimmed); no query, no
    /// dot segments, no scheme — it names a route, it must not be able to reach another host or path.
    private mutating func targetPath(in object: JSONObject, at path: ConfigKeyPath) -> ConfigField<String> {
        let field = self.nonEmptyString("target_path", in: object, at: path)
        guard var value = field.value, let member = object["target_path"] else { return field }
        if value.hasPrefix("/") { value.removeFirst() }
        let segments = value.split(separator: "/", omittingEmptySubsequences: false)
        let allowed = value.unicodeScalars.allSatisfy {
            ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || "-_./".unicodeScalars.contains($0)
        }
        guard !value.isEmpty, allowed, !segments.contains(where: { $0.isEmpty || $0 == "." || $0 == ".." }) else {
            self.error(
                "expected a path like v1/rerank (letters, digits, '-', '_', '.', '/'; no empty, '.' or '..' segments)",
                at: path.appending("target_path"), member.value.position)
            return .invalid
        }
        return .present(value)
    }

    /// An optional `true`/`false` member.
    mutating func flag(_ key: String, in object: JSONObject, at path: ConfigKeyPath) -> ConfigField<Bool> {
        guard let member = object[key] else { return .absent }
        guard case .bool(let value) = member.value.value else {
            self.error("expected true or false, found \(member.value.value.kindName)", at: path.appending(key),
                       member.value.position)
            return .invalid
        }
        return .present(value)
    }

    /// A provider's `auth_header`: how its key is sent (`authorization`, the default, or `x-api-key`).
    mutating func authHeader(in object: JSONObject, at path: ConfigKeyPath) -> UpstreamAuthHeader {
        let field = self.string("auth_header", in: object, at: path)
        guard let text = field.value, let member = object["auth_header"] else { return .authorization }
        guard let header = UpstreamAuthHeader(rawValue: text.lowercased()) else {
            self.error("expected authorization or x-api-key", at: path.appending("auth_header"), member.value.position)
            return .authorization
        }
        return header
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
