/// `limit_tiers`, `limit_groups` and `keys[].limits`: every problem is an error with its key path, because a limit
/// that silently does not apply (a typo in a name, a fraction) is worse than a refused reload.
extension ClientKeyFileValidator {
    /// Reads `limit_tiers` (named sets of numbers keys refer to) into ``tiers``.
    mutating func validateTiers(_ object: JSONObject) {
        guard let member = object["limit_tiers"] else {
            return
        }
        let path = ConfigKeyPath("limit_tiers")
        for (name, fields) in self.namedLimitObjects(member.value, at: path, what: "tier") {
            self.tiers[name] = fields
        }
    }

    /// Reads `limit_groups` (limits shared by every key that names the group) into ``groups``.
    mutating func validateGroups(_ object: JSONObject) {
        guard let member = object["limit_groups"] else {
            return
        }
        let path = ConfigKeyPath("limit_groups")
        for (name, fields) in self.namedLimitObjects(member.value, at: path, what: "group") {
            self.groups.append(LimitGroup(name: name, limits: fields.limitSet))
        }
    }

    /// Warnings once the keys are read: limits that can never apply.
    mutating func warnAboutUnusedLimits(_ object: JSONObject, keyCount: Int) {
        if keyCount == 0 {
            for name in ["limit_tiers", "limit_groups"] where object[name] != nil {
                let message = "limits apply to client keys, and there are none"
                self.diagnostics.warning(message, file: self.file, at: ConfigKeyPath(name))
            }
            return
        }
        for group in self.groups where !self.keys.contains(where: { $0.limits?.group == group.name }) {
            let message = "no key is a member of this group"
            self.diagnostics.warning(message, file: self.file, at: ConfigKeyPath("limit_groups").appending(group.name))
        }
    }

    /// A key's `limits`: a tier name, or an object with `tier`, `group`, numbers, `burst` and `models`.
    ///
    /// - Returns: `.success(nil)` without a `limits` member, `.failure` after reporting an error.
    mutating func keyLimits(in object: JSONObject, at keyPath: ConfigKeyPath) -> Result<KeyLimits?, LimitsInvalid> {
        guard let member = object["limits"] else {
            return .success(nil)
        }
        let path = keyPath.appending("limits")
        let node = member.value
        if case .string(let name) = node.value {
            guard let tier = self.tier(named: name, at: path, node) else {
                return .failure(LimitsInvalid())
            }
            return .success(KeyLimits(tier: name, key: tier.limitSet))
        }
        guard case .object(let limits) = node.value else {
            self.error("expected a tier name or an object of limits, found \(node.value.kindName)", path, node)
            return .failure(LimitsInvalid())
        }
        let errorsBefore = self.diagnostics.errors.count
        var tierName: String?
        var tier: LimitFields?
        if let tierMember = limits["tier"] {
            if case .string(let name) = tierMember.value.value {
                tierName = name
                tier = self.tier(named: name, at: path.appending("tier"), tierMember.value)
            } else {
                let found = tierMember.value.value.kindName
                self.error("expected a tier name, found \(found)", path.appending("tier"), tierMember.value)
            }
        }
        var groupName: String?
        if let groupMember = limits["group"] {
            groupName = self.groupName(groupMember.value, at: path.appending("group"))
        }
        let own = self.limitFields(limits, at: path, extra: ["tier", "group", "models"])
        let merged = own.over(tier)
        self.reportBurstsWithoutRate(merged, own: own, at: path, node)
        let models = self.modelLimits(limits["models"], at: path.appending("models"))
        guard self.diagnostics.errors.count == errorsBefore else {
            return .failure(LimitsInvalid())
        }
        return .success(KeyLimits(tier: tierName, group: groupName, key: merged.limitSet, models: models))
    }

    // MARK: - Pieces

    /// An object of named limit objects (`limit_tiers`, `limit_groups`), each checked on its own.
    private mutating func namedLimitObjects(
        _ node: JSONNode,
        at path: ConfigKeyPath,
        what: String
    ) -> [(String, LimitFields)] {
        guard case .object(let object) = node.value else {
            self.error("expected an object of \(what) names and their limits, found \(node.value.kindName)", path, node)
            return []
        }
        var result: [(String, LimitFields)] = []
        for member in object.members {
            let memberPath = path.appending(member.key)
            guard !member.key.isEmpty, !member.key.unicodeScalars.contains(where: Self.isControl) else {
                self.error("a \(what) name must be non-empty, without control characters", memberPath, member.value)
                continue
            }
            guard case .object(let limits) = member.value.value else {
                self.error("expected an object of limits, found \(member.value.value.kindName)", memberPath, member.value)
                continue
            }
            // Kept even with errors (they fail the load anyway), so keys naming it get no second, misleading error.
            let fields = self.limitFields(limits, at: memberPath, extra: [])
            self.reportBurstsWithoutRate(fields, own: fields, at: memberPath, member.value)
            result.append((member.key, fields))
        }
        return result
    }

    /// A key's `limits.models`: pattern → limits, in file order.
    private mutating func modelLimits(_ member: JSONMember?, at path: ConfigKeyPath) -> [ModelLimits] {
        guard let member else {
            return []
        }
        guard case .object(let object) = member.value.value else {
            let found = member.value.value.kindName
            self.error("expected an object of model patterns and their limits, found \(found)", path, member.value)
            return []
        }
        var result: [ModelLimits] = []
        for entry in object.members {
            let entryPath = path.appending(entry.key)
            guard !entry.key.isEmpty else {
                self.error("a model pattern must not be empty", entryPath, entry.value)
                continue
            }
            guard case .object(let limits) = entry.value.value else {
                self.error("expected an object of limits, found \(entry.value.value.kindName)", entryPath, entry.value)
                continue
            }
            let fields = self.limitFields(limits, at: entryPath, extra: [])
            self.reportBurstsWithoutRate(fields, own: fields, at: entryPath, entry.value)
            result.append(ModelLimits(pattern: ModelPattern(entry.key), limits: fields.limitSet))
        }
        return result
    }

    /// The numbers and `burst` of one limits object; members named in `extra` are left to the caller.
    private mutating func limitFields(_ object: JSONObject, at path: ConfigKeyPath, extra: Set<String>) -> LimitFields {
        var fields = LimitFields()
        for member in object.members where !extra.contains(member.key) {
            let memberPath = path.appending(member.key)
            if member.key == LimitFields.burstKey {
                fields.bursts = self.bursts(member.value, at: memberPath)
            } else if LimitFields.numberKeys.contains(member.key) {
                let maximum =
                    member.key == LimitFields.concurrencyKey ? LimitFields.maximumConcurrency : LimitFields.maximum
                if let value = self.positiveInteger(member.value, at: memberPath, maximum: maximum) {
                    fields.numbers[member.key] = value
                }
            } else {
                let known = (LimitFields.numberKeys.sorted() + [LimitFields.burstKey] + extra.sorted())
                self.error("unknown member (known: \(known.joined(separator: ", ")))", memberPath, member.value)
            }
        }
        return fields
    }

    /// `burst`: rate name → bucket size.
    private mutating func bursts(_ node: JSONNode, at path: ConfigKeyPath) -> [String: Int] {
        guard case .object(let object) = node.value else {
            let message = "expected an object of rate names and burst sizes ({\"requests_per_minute\": 100})"
            self.error(message + ", found \(node.value.kindName)", path, node)
            return [:]
        }
        var result: [String: Int] = [:]
        for member in object.members {
            let memberPath = path.appending(member.key)
            guard LimitFields.rateKeys[member.key] != nil else {
                let rates = LimitFields.rateKeys.keys.sorted().joined(separator: ", ")
                self.error("not a rate (one of: \(rates))", memberPath, member.value)
                continue
            }
            if let value = self.positiveInteger(member.value, at: memberPath, maximum: LimitFields.maximum) {
                result[member.key] = value
            }
        }
        return result
    }

    /// Reports every burst of `own` whose rate is set neither in `merged` (own plus tier).
    private mutating func reportBurstsWithoutRate(
        _ merged: LimitFields,
        own: LimitFields,
        at path: ConfigKeyPath,
        _ node: JSONNode
    ) {
        for name in merged.burstsWithoutRate where own.bursts[name] != nil {
            let message = "a burst for \(name), but no \(name) limit is set"
            self.error(message, path.appending(LimitFields.burstKey).appending(name), node)
        }
    }

    private mutating func positiveInteger(_ node: JSONNode, at path: ConfigKeyPath, maximum: Int) -> Int? {
        guard case .number(let value) = node.value else {
            self.error("must be a positive integer, found \(node.value.kindName)", path, node)
            return nil
        }
        guard value.isFinite, value == value.rounded(.towardZero), value >= 1 else {
            self.error("must be a positive integer", path, node)
            return nil
        }
        guard value <= Double(maximum) else {
            self.error("must be at most \(maximum)", path, node)
            return nil
        }
        return Int(value)
    }

    private mutating func tier(named name: String, at path: ConfigKeyPath, _ node: JSONNode) -> LimitFields? {
        if let tier = self.tiers[name] {
            return tier
        }
        let known = self.tiers.keys.sorted()
        let hint = known.isEmpty ? "limit_tiers defines none" : "limit_tiers has: \(known.joined(separator: ", "))"
        self.error("unknown tier \"\(name)\" (\(hint))", path, node)
        return nil
    }

    private mutating func groupName(_ node: JSONNode, at path: ConfigKeyPath) -> String? {
        guard case .string(let name) = node.value else {
            self.error("expected a group name, found \(node.value.kindName)", path, node)
            return nil
        }
        guard self.groups.contains(where: { $0.name == name }) else {
            let known = self.groups.map(\.name).sorted()
            let hint =
                known.isEmpty ? "limit_groups defines none" : "limit_groups has: \(known.joined(separator: ", "))"
            self.error("unknown group \"\(name)\" (\(hint))", path, node)
            return nil
        }
        return name
    }

    private static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.properties.generalCategory == .control
    }
}

/// A key's `limits` had errors (already reported); the key is left out.
struct LimitsInvalid: Error {}
