/// `upstreams` lists and the pool settings (`strategy`, `retries`, `first_byte_timeout`, `max_fails`, `cooldown`),
/// at provider or endpoint level.
extension ConfigFileValidator {
    static let upstreamKeys: Set<String> = [
        "target_base_url", "target_model_name", "weight", "api_key_variable", "api_key_file",
    ]
    static let poolKeys: Set<String> = [
        "upstreams", "strategy", "retries", "first_byte_timeout", "max_fails", "cooldown", "inject_stream_usage",
    ]

    /// One element of an `upstreams` list before it is bound to an endpoint: its model name may come from there.
    struct UpstreamSpec {
        var baseURL: String
        var targetModelName: String?
        var weight: Int
        var credential: Credential?
        var path: ConfigKeyPath
        var position: JSONPosition
    }

    /// Pool settings as written at one level; the endpoint's win over the provider's, key by key.
    struct PoolFields {
        var strategy: ConfigField<BalancingStrategy> = .absent
        var retries: ConfigField<Int> = .absent
        var firstByteTimeout: ConfigField<Double> = .absent
        var maxFails: ConfigField<Int> = .absent
        var cooldown: ConfigField<Double> = .absent
        var injectStreamUsage: ConfigField<Bool> = .absent

        func orInherited(_ fallback: PoolFields) -> PoolFields {
            PoolFields(
                strategy: self.strategy.orInherited(fallback.strategy),
                retries: self.retries.orInherited(fallback.retries),
                firstByteTimeout: self.firstByteTimeout.orInherited(fallback.firstByteTimeout),
                maxFails: self.maxFails.orInherited(fallback.maxFails),
                cooldown: self.cooldown.orInherited(fallback.cooldown),
                injectStreamUsage: self.injectStreamUsage.orInherited(fallback.injectStreamUsage)
            )
        }

        var isValid: Bool {
            if case .invalid = self.strategy { return false }
            if case .invalid = self.retries { return false }
            if case .invalid = self.firstByteTimeout { return false }
            if case .invalid = self.maxFails { return false }
            if case .invalid = self.cooldown { return false }
            if case .invalid = self.injectStreamUsage { return false }
            return true
        }

        var policy: PoolPolicy {
            PoolPolicy(
                strategy: self.strategy.value ?? .leastInflight,
                retries: self.retries.value,
                firstByteTimeout: self.firstByteTimeout.value,
                maxFails: self.maxFails.value ?? PoolPolicy.defaultMaxFails,
                cooldown: self.cooldown.value ?? PoolPolicy.defaultCooldown
            )
        }
    }

    mutating func poolFields(in object: JSONObject, at path: ConfigKeyPath) -> PoolFields {
        var fields = PoolFields()
        let strategy = self.string("strategy", in: object, at: path)
        switch strategy {
        case .absent: break
        case .invalid: fields.strategy = .invalid
        case .present(let name):
            if let value = BalancingStrategy(rawValue: name) {
                fields.strategy = .present(value)
            } else {
                let expected = BalancingStrategy.allCases.map(\.rawValue).joined(separator: ", ")
                self.error("unknown strategy; expected one of: \(expected)", at: path.appending("strategy"),
                           object["strategy"]!.value.position)
                fields.strategy = .invalid
            }
        }
        fields.retries = self.integer("retries", in: object, at: path, range: 0...PoolPolicy.maximumRetries)
        fields.firstByteTimeout = self.timeout("first_byte_timeout", in: object, at: path)
        fields.maxFails = self.integer("max_fails", in: object, at: path, range: 1...100)
        fields.cooldown = self.timeout("cooldown", in: object, at: path)
        if let member = object["inject_stream_usage"] {
            if case .bool(let value) = member.value.value {
                fields.injectStreamUsage = .present(value)
            } else {
                self.error("expected true or false, found \(member.value.value.kindName)",
                           at: path.appending("inject_stream_usage"), member.value.position)
                fields.injectStreamUsage = .invalid
            }
        }
        if let cooldown = fields.cooldown.value, cooldown > PoolPolicy.maximumCooldown {
            self.error("must be at most \(Int(PoolPolicy.maximumCooldown)) seconds", at: path.appending("cooldown"),
                       object["cooldown"]!.value.position)
            fields.cooldown = .invalid
        }
        return fields
    }

    /// An optional whole number in `range`.
    mutating func integer(
        _ key: String, in object: JSONObject, at path: ConfigKeyPath, range: ClosedRange<Int>
    ) -> ConfigField<Int> {
        guard let member = object[key] else {
            return .absent
        }
        guard case .number(let number) = member.value.value, number.rounded() == number,
            number >= Double(range.lowerBound), number <= Double(range.upperBound)
        else {
            let message = "must be a whole number from \(range.lowerBound) to \(range.upperBound)"
            self.error(message, at: path.appending(key), member.value.position)
            return .invalid
        }
        return .present(Int(number))
    }

    /// An optional `upstreams` list: a non-empty array of `{target_base_url, target_model_name?, weight?,
    /// api_key_variable?/api_key_file?}` objects.
    mutating func upstreamSpecs(in object: JSONObject, at path: ConfigKeyPath) -> ConfigField<[UpstreamSpec]> {
        guard let member = object["upstreams"] else {
            return .absent
        }
        let listPath = path.appending("upstreams")
        guard case .array(let elements) = member.value.value, !elements.isEmpty else {
            self.error("expected a non-empty array of upstreams", at: listPath, member.value.position)
            return .invalid
        }
        guard elements.count <= EndpointConfig.maximumUpstreams else {
            self.error("at most \(EndpointConfig.maximumUpstreams) upstreams", at: listPath, member.value.position)
            return .invalid
        }
        var specs: [UpstreamSpec] = []
        var valid = true
        for (index, element) in elements.enumerated() {
            let elementPath = listPath.appending(index: index)
            guard let entry = self.object(element, at: elementPath) else {
                valid = false
                continue
            }
            self.warnUnknownKeys(in: entry, known: Self.upstreamKeys, at: elementPath)
            let baseURL = self.baseURL("target_base_url", in: entry, at: elementPath)
            if case .absent = baseURL {
                self.missing("target_base_url", at: elementPath, element.position)
            }
            let modelName = self.nonEmptyString("target_model_name", in: entry, at: elementPath)
            let weight = self.integer("weight", in: entry, at: elementPath, range: 1...1000)
            let owns = entry["api_key_variable"] != nil || entry["api_key_file"] != nil
            let credential = owns ? self.resolveCredential(owner: elementPath.description, in: entry, at: elementPath) : nil
            guard let url = baseURL.value, weight.isUsable, modelName.isUsable, !owns || credential != nil else {
                valid = false
                continue
            }
            specs.append(
                UpstreamSpec(
                    baseURL: url,
                    targetModelName: modelName.value,
                    weight: weight.value ?? 1,
                    credential: credential,
                    path: elementPath,
                    position: element.position
                )
            )
        }
        return valid ? .present(specs) : .invalid
    }

    /// Binds specs to an endpoint: each takes the endpoint's `target_model_name` unless it names its own.
    /// - Returns: nil when one names none and the endpoint has none either.
    func bind(_ specs: [UpstreamSpec], endpointModelName: String?) -> [UpstreamConfig]? {
        var upstreams: [UpstreamConfig] = []
        for spec in specs {
            guard let name = spec.targetModelName ?? endpointModelName else {
                return nil
            }
            upstreams.append(
                UpstreamConfig(baseURL: spec.baseURL, targetModelName: name, weight: spec.weight, credential: spec.credential)
            )
        }
        return upstreams
    }
}

extension ConfigField {
    /// Absent or valid: nothing reported against it.
    var isUsable: Bool {
        if case .invalid = self { return false }
        return true
    }
}
