/// Where and how to reach Redis, from `FOAP_LIMITS_REDIS_URL`:
/// `redis://[[user]:password@]host[:port][/db]`, `rediss://…` (the same over TLS), `unix:/path[?db=N&password=P]`.
///
/// Parsed by hand (no Foundation) with an error that names the part that is wrong, since the operator only sees the
/// string they typed. User and password may be percent-encoded (`%40` for `@`).
public struct RedisURL: Sendable, Equatable, CustomStringConvertible {
    public enum Endpoint: Sendable, Equatable {
        case tcp(host: String, port: Int)
        case unixSocket(path: String)
    }

    public static let defaultPort = 6379

    public var endpoint: Endpoint
    /// `rediss://`: TLS, verifying the server's certificate against `host`.
    public var usesTLS: Bool
    /// An ACL user (Redis 6+); nil for the `default` user.
    public var user: String?
    public var password: String?
    public var database: Int

    public init(
        endpoint: Endpoint,
        usesTLS: Bool = false,
        user: String? = nil,
        password: String? = nil,
        database: Int = 0
    ) {
        self.endpoint = endpoint
        self.usesTLS = usesTLS
        self.user = user
        self.password = password
        self.database = database
    }

    public init(_ string: String) throws(RedisURLError) {
        if string.hasPrefix("redis://") || string.hasPrefix("rediss://") {
            try self.init(tcp: string)
        } else if string.hasPrefix("unix:") {
            try self.init(unix: String(string.dropFirst("unix:".count)))
        } else {
            throw RedisURLError("must start with redis://, rediss:// or unix:")
        }
    }

    /// The URL with the password replaced, safe for logs.
    public var description: String {
        let credentials = self.password == nil ? (self.user.map { "\($0)@" } ?? "") : "\(self.user ?? ""):***@"
        switch self.endpoint {
        case .tcp(let host, let port):
            let shownHost = host.contains(":") ? "[\(host)]" : host
            return "\(self.usesTLS ? "rediss" : "redis")://\(credentials)\(shownHost):\(port)/\(self.database)"
        case .unixSocket(let path):
            return "unix:\(path)?db=\(self.database)\(self.password == nil ? "" : "&password=***")"
        }
    }

    private init(tcp string: String) throws(RedisURLError) {
        self.usesTLS = string.hasPrefix("rediss://")
        var rest = Substring(string.dropFirst(self.usesTLS ? "rediss://".count : "redis://".count))
        if let query = rest.firstIndex(where: { $0 == "?" || $0 == "#" }) {
            throw RedisURLError("has a query or fragment ('\(rest[query...])'); give the database as /N")
        }
        var path: Substring = ""
        if let slash = rest.firstIndex(of: "/") {
            path = rest[rest.index(after: slash)...]
            rest = rest[..<slash]
        }
        (self.user, self.password) = (nil, nil)
        if let at = rest.lastIndex(of: "@") {
            (self.user, self.password) = try Self.credentials(rest[..<at])
            rest = rest[rest.index(after: at)...]
        }
        self.endpoint = try Self.hostAndPort(rest)
        self.database = path.isEmpty ? 0 : try Self.database(path)
    }

    private init(unix string: String) throws(RedisURLError) {
        var path = Substring(string)
        if path.hasPrefix("//") {
            path = path.dropFirst(2)
        }
        self.usesTLS = false
        (self.user, self.password, self.database) = (nil, nil, 0)
        if let question = path.firstIndex(of: "?") {
            for parameter in path[path.index(after: question)...].split(separator: "&") {
                let parts = parameter.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                let value = try Self.percentDecoded(parts.count == 2 ? parts[1] : "", what: String(parts[0]))
                switch parts[0] {
                case "db": self.database = try Self.database(Substring(value))
                case "user": self.user = value
                case "password": self.password = value
                default: throw RedisURLError("has an unknown parameter '\(parts[0])' (known: db, user, password)")
                }
            }
            path = path[..<question]
        }
        guard path.hasPrefix("/"), path.count > 1 else {
            throw RedisURLError("needs an absolute socket path after unix: (unix:/run/redis/redis.sock)")
        }
        self.endpoint = .unixSocket(path: String(path))
    }

    private static func credentials(_ text: Substring) throws(RedisURLError) -> (String?, String?) {
        guard let colon = text.firstIndex(of: ":") else {
            throw RedisURLError(
                "has credentials without a colon; write redis://:password@host or redis://user:password@host"
            )
        }
        let user = try Self.percentDecoded(text[..<colon], what: "user")
        let password = try Self.percentDecoded(text[text.index(after: colon)...], what: "password")
        return (user.isEmpty ? nil : user, password)
    }

    private static func hostAndPort(_ text: Substring) throws(RedisURLError) -> Endpoint {
        var host = text
        var portText: Substring?
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else {
                throw RedisURLError("has an IPv6 host without its closing ']'")
            }
            host = text[text.index(after: text.startIndex)..<close]
            let after = text[text.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else {
                    throw RedisURLError("has '\(after)' after the IPv6 host; expected :port")
                }
                portText = after.dropFirst()
            }
        } else if let colon = text.lastIndex(of: ":") {
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
        }
        guard !host.isEmpty else {
            throw RedisURLError("has no host")
        }
        var port = Self.defaultPort
        if let portText {
            guard let parsed = Int(portText), (1...65_535).contains(parsed) else {
                throw RedisURLError("has an invalid port '\(portText)' (1-65535)")
            }
            port = parsed
        }
        return .tcp(host: String(host), port: port)
    }

    private static func database(_ text: Substring) throws(RedisURLError) -> Int {
        guard text.allSatisfy(\.isASCII), let database = Int(text), database >= 0 else {
            throw RedisURLError("has an invalid database '\(text)' (a number, 0 or more)")
        }
        return database
    }

    private static func percentDecoded(_ text: Substring, what: String) throws(RedisURLError) -> String {
        var bytes: [UInt8] = []
        var iterator = Array(text.utf8).makeIterator()
        while let byte = iterator.next() {
            guard byte == UInt8(ascii: "%") else {
                bytes.append(byte)
                continue
            }
            guard let high = iterator.next().flatMap(Self.hexValue), let low = iterator.next().flatMap(Self.hexValue)
            else {
                throw RedisURLError("has a broken percent escape in the \(what)")
            }
            bytes.append(high << 4 | low)
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

/// A `FOAP_LIMITS_REDIS_URL` that cannot be used; the message completes "the Redis URL …".
public struct RedisURLError: Error, Sendable, Equatable, CustomStringConvertible {
    public let message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String {
        "the Redis URL \(self.message)"
    }
}
