/// Turns the parsed key file into ``ClientKeys``, collecting every error and warning with its key path.
///
/// The format:
/// ```json
/// {"keys": [{"name": "team-a", "sha256": "<64 hex>", "models": ["openai-*"], "expires": "2027-01-31"}]}
/// ```
/// `name`, `sha256` and `models` are required, `expires` and `limits` are optional (see
/// `ClientKeyFileValidator+Limits.swift` for `limits`, `limit_tiers` and `limit_groups`). Names and hashes must be unique: a name is
/// what access records show, and one hash under two names would make that name ambiguous. Like the model files,
/// messages name the kind of a wrong value, never the value: a plain key pasted into `sha256` is never printed.
struct ClientKeyFileValidator {
    static let fileKeys: Set<String> = ["keys", "limit_tiers", "limit_groups"]
    static let entryKeys: Set<String> = ["name", "sha256", "models", "expires", "limits"]

    /// The key file's path as configured; it prefixes every message.
    let file: String
    var diagnostics = ConfigDiagnostics()
    private(set) var keys: [ClientKey] = []
    /// Where each key of `keys` is in the file, for the loader's warnings (expired, patterns matching no model).
    private(set) var keyPaths: [ConfigKeyPath] = []
    /// `limit_tiers`, checked, by name: keys lay their own numbers over them.
    var tiers: [String: LimitFields] = [:]
    /// `limit_groups`, in file order.
    var groups: [LimitGroup] = []

    init(file: String) {
        self.file = file
    }

    /// Validates the top-level value: an object with a `keys` array.
    mutating func validate(_ root: JSONNode) {
        guard case .object(let object) = root.value else {
            let found = root.value.kindName
            self.error("the top level must be an object with a \"keys\" array, found \(found)", nil, root)
            return
        }
        self.warnUnknownKeys(in: object, known: Self.fileKeys, at: nil)
        self.validateTiers(object)
        self.validateGroups(object)
        guard let member = object["keys"] else {
            self.diagnostics.error("missing", file: self.file, at: ConfigKeyPath("keys"), position: root.position)
            return
        }
        guard case .array(let entries) = member.value.value else {
            let found = member.value.value.kindName
            self.error("expected an array of keys, found \(found)", ConfigKeyPath("keys"), member.value)
            return
        }
        if entries.isEmpty {
            let message = "no keys: every request that needs a key will be refused"
            self.diagnostics.warning(message, file: self.file, at: ConfigKeyPath("keys"))
        }
        var firstByName: [String: Int] = [:]
        var firstByDigest: [ClientKeyDigest: Int] = [:]
        for (index, entry) in entries.enumerated() {
            let path = ConfigKeyPath("keys").appending(index: index)
            guard let key = self.validateEntry(entry, at: path) else {
                continue
            }
            if let first = firstByName[key.name] {
                self.error("duplicate name, already used by keys[\(first)]", path.appending("name"), entry)
                continue
            }
            if let first = firstByDigest[key.digest] {
                self.error("the same key hash as keys[\(first)]", path.appending("sha256"), entry)
                continue
            }
            firstByName[key.name] = index
            firstByDigest[key.digest] = index
            self.keys.append(key)
            self.keyPaths.append(path)
        }
        self.warnAboutUnusedLimits(object, keyCount: entries.count)
    }

    private mutating func validateEntry(_ node: JSONNode, at path: ConfigKeyPath) -> ClientKey? {
        guard case .object(let object) = node.value else {
            self.error("expected an object, found \(node.value.kindName)", path, node)
            return nil
        }
        self.warnUnknownKeys(in: object, known: Self.entryKeys, at: path)
        let name = self.requiredString("name", in: object, at: path, node)
        var digest: ClientKeyDigest?
        if let text = self.requiredString("sha256", in: object, at: path, node), let member = object["sha256"] {
            digest = self.digest(text, at: path.appending("sha256"), member.value)
        }
        let models = self.models(in: object, at: path, node)
        var expires: ExpiryDate?
        var expiresValid = true
        if let member = object["expires"] {
            if case .string(let text) = member.value.value, let date = ExpiryDate(text) {
                expires = date
            } else {
                let message = "must be a date written YYYY-MM-DD (the last day the key works, UTC)"
                self.error(message, path.appending("expires"), member.value)
                expiresValid = false
            }
        }
        let limits = self.keyLimits(in: object, at: path)
        guard let name, let digest, let models, expiresValid, case .success(let limits) = limits else {
            return nil
        }
        return ClientKey(name: name, digest: digest, models: models, expires: expires, limits: limits)
    }

    /// A required, non-empty string without control characters (names end up in log records).
    private mutating func requiredString(
        _ key: String,
        in object: JSONObject,
        at path: ConfigKeyPath,
        _ parent: JSONNode
    ) -> String? {
        guard let member = object[key] else {
            self.error("missing", path.appending(key), parent)
            return nil
        }
        guard case .string(let text) = member.value.value else {
            self.error("expected a string, found \(member.value.value.kindName)", path.appending(key), member.value)
            return nil
        }
        guard !text.isEmpty, !text.unicodeScalars.contains(where: { $0.properties.generalCategory == .control })
        else {
            self.error("must be a non-empty string without control characters", path.appending(key), member.value)
            return nil
        }
        return text
    }

    private mutating func digest(_ text: String, at path: ConfigKeyPath, _ node: JSONNode) -> ClientKeyDigest? {
        if let digest = ClientKeyDigest(hex: text) {
            return digest
        }
        var message = "must be the key's SHA-256 as 64 hex digits (`foap keys new` prints it)"
        if text.hasPrefix("sk-") {
            message += "; this looks like a plain key, which must never be stored here"
        }
        self.error(message, path, node)
        return nil
    }

    /// The required, non-empty `models` array of non-empty strings.
    private mutating func models(
        in object: JSONObject,
        at path: ConfigKeyPath,
        _ parent: JSONNode
    ) -> [ModelPattern]? {
        let modelsPath = path.appending("models")
        guard let member = object["models"] else {
            self.error("missing", modelsPath, parent)
            return nil
        }
        guard case .array(let elements) = member.value.value else {
            let found = member.value.value.kindName
            self.error("expected an array of model ids and patterns, found \(found)", modelsPath, member.value)
            return nil
        }
        guard !elements.isEmpty else {
            let message = "must list at least one model id or pattern (\"*\" allows every model)"
            self.error(message, modelsPath, member.value)
            return nil
        }
        var patterns: [ModelPattern] = []
        var valid = true
        for (index, element) in elements.enumerated() {
            let elementPath = modelsPath.appending(index: index)
            guard case .string(let text) = element.value else {
                let found = element.value.kindName
                self.error("expected a model id or pattern (a string), found \(found)", elementPath, element)
                valid = false
                continue
            }
            guard !text.isEmpty else {
                self.error("must not be empty", elementPath, element)
                valid = false
                continue
            }
            patterns.append(ModelPattern(text))
        }
        return valid ? patterns : nil
    }

    private mutating func warnUnknownKeys(in object: JSONObject, known: Set<String>, at path: ConfigKeyPath?) {
        for member in object.members where !known.contains(member.key) {
            let keyPath = path?.appending(member.key) ?? ConfigKeyPath(member.key)
            self.diagnostics.warning("unknown key, ignored", file: self.file, at: keyPath)
        }
    }

    mutating func error(_ message: String, _ path: ConfigKeyPath?, _ node: JSONNode) {
        self.diagnostics.error(message, file: self.file, at: path, position: node.position)
    }
}
