import Foundation

/// Typed readers for single keys. Each reports its own errors (naming the kind found, never the value) and
/// returns a ``ConfigField`` so callers can tell "not written" from "written wrong".
extension ConfigFileValidator {
    /// `node` as an object, or an error at `path` naming what was found instead.
    mutating func object(_ node: JSONNode, at path: ConfigKeyPath) -> JSONObject? {
        guard case .object(let object) = node.value else {
            self.error("expected an object, found \(node.value.kindName)", at: path, node.position)
            return nil
        }
        return object
    }

    /// An optional string member.
    mutating func string(_ key: String, in object: JSONObject, at path: ConfigKeyPath) -> ConfigField<String> {
        guard let member = object[key] else {
            return .absent
        }
        guard case .string(let string) = member.value.value else {
            let found = member.value.value.kindName
            self.error("expected a string, found \(found)", at: path.appending(key), member.value.position)
            return .invalid
        }
        return .present(string)
    }

    /// An optional string member that must not be empty.
    mutating func nonEmptyString(_ key: String, in object: JSONObject, at path: ConfigKeyPath) -> ConfigField<String> {
        let field = self.string(key, in: object, at: path)
        if let string = field.value, string.isEmpty, let member = object[key] {
            self.error("must not be empty", at: path.appending(key), member.value.position)
            return .invalid
        }
        return field
    }

    /// An optional timeout in seconds: greater than zero and at most ``EndpointConfig/maximumTimeout``.
    mutating func timeout(_ key: String, in object: JSONObject, at path: ConfigKeyPath) -> ConfigField<Double> {
        guard let member = object[key] else {
            return .absent
        }
        guard case .number(let seconds) = member.value.value else {
            let found = member.value.value.kindName
            self.error("expected a number of seconds, found \(found)", at: path.appending(key), member.value.position)
            return .invalid
        }
        guard seconds > 0, seconds <= EndpointConfig.maximumTimeout else {
            let limit = Int(EndpointConfig.maximumTimeout)
            let message = "must be a number of seconds greater than 0 and at most \(limit)"
            self.error(message, at: path.appending(key), member.value.position)
            return .invalid
        }
        return .present(seconds)
    }

    /// An optional `target_base_url`, checked and with trailing `/` trimmed.
    mutating func baseURL(_ key: String, in object: JSONObject, at path: ConfigKeyPath) -> ConfigField<String> {
        let field = self.string(key, in: object, at: path)
        guard let string = field.value, let member = object[key] else {
            return field
        }
        switch Self.normalizedBaseURL(string) {
        case .success(let url):
            return .present(url)
        case .failure(let problem):
            self.error(problem.message, at: path.appending(key), member.value.position)
            return .invalid
        }
    }

    /// Warns about every key of `object` not in `known`: accepted (old files carry extra keys) but listed.
    mutating func warnUnknownKeys(in object: JSONObject, known: Set<String>, at path: ConfigKeyPath) {
        for member in object.members where !known.contains(member.key) {
            self.diagnostics.warning("unknown key, ignored", file: self.file, at: path.appending(member.key))
        }
    }

    /// Reports a required key that is absent, at the position of the object that should hold it.
    mutating func missing(_ key: String, at path: ConfigKeyPath, _ position: JSONPosition, hint: String = "") {
        self.error("missing" + hint, at: path.appending(key), position)
    }

    mutating func error(_ message: String, at path: ConfigKeyPath?, _ position: JSONPosition) {
        self.diagnostics.error(message, file: self.file, at: path, position: position)
    }

    /// Why a base URL was refused; the message never contains the URL itself.
    struct BaseURLProblem: Error {
        var message: String
    }

    /// Checks that `string` is `http(s)://host[:port][/path]` with no query or fragment (a path is appended
    /// to it), and trims trailing slashes so `base + "/" + path` never doubles one.
    static func normalizedBaseURL(_ string: String) -> Result<String, BaseURLProblem> {
        let lowercased = string.lowercased()
        guard lowercased.hasPrefix("http://") || lowercased.hasPrefix("https://") else {
            return .failure(BaseURLProblem(message: "must be an http:// or https:// URL"))
        }
        guard let components = URLComponents(string: string), let host = components.host, !host.isEmpty else {
            return .failure(BaseURLProblem(message: "must be an http(s) URL with a host, e.g. https://api.openai.com"))
        }
        if let port = components.port, !(1...65535).contains(port) {
            return .failure(BaseURLProblem(message: "has an invalid port"))
        }
        guard components.query == nil, components.fragment == nil else {
            return .failure(BaseURLProblem(message: "must not contain a query or fragment"))
        }
        var trimmed = Substring(string)
        while trimmed.hasSuffix("/") {
            trimmed.removeLast()
        }
        return .success(String(trimmed))
    }
}
