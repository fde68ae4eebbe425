import NIOCore

/// One limit of one scope, as the Functions library keeps it: the caller (the proxy) maps its own limit types onto
/// these, so this target needs nothing of `FOAPConfig` or `FOAPLimits`.
public struct RedisLimitCell: Sendable, Hashable {
    public enum Limit: Sendable, Hashable {
        /// Requests in flight, as leases that expire after `leaseTTL` unless renewed.
        case concurrency(limit: Int, leaseTTL: TimeAmount)
        /// A request rate: `limit` per `periodSeconds`, at most `burst` at once.
        case requestRate(periodSeconds: Int, limit: Int, burst: Int)
        case tokenRate(periodSeconds: Int, limit: Int, burst: Int)
        /// Tokens per UTC calendar period.
        case budget(RedisBudgetPeriod, tokens: Int)
    }

    /// Which scope the limit belongs to (`key:team-b`, `model:team-b:gpt-4o*`, `group:research`): part of the key.
    public var scope: String
    public var limit: Limit

    public init(scope: String, limit: Limit) {
        self.scope = scope
        self.limit = limit
    }

    /// The Redis key: `foap:v1:{tag}:<scope>:<limit>`. Every key of one check shares the `{tag}`, so a cluster
    /// keeps them in one slot and the check stays one atomic call.
    public func key(tag: String) -> String {
        "foap:v1:{\(RedisLimitCell.escapedTag(tag))}:\(self.scope):\(self.suffix)"
    }

    /// Braces would end the hash tag early, so they (and `%`, to stay reversible) are percent-encoded.
    static func escapedTag(_ tag: String) -> String {
        var escaped = ""
        for character in tag {
            switch character {
            case "%": escaped += "%25"
            case "{": escaped += "%7B"
            case "}": escaped += "%7D"
            default: escaped.append(character)
            }
        }
        return escaped
    }

    /// The function's kind argument.
    var kind: String {
        switch self.limit {
        case .concurrency: "c"
        case .requestRate: "rq"
        case .tokenRate: "rt"
        case .budget(let period, _): period.kind
        }
    }

    private var suffix: String {
        switch self.limit {
        case .concurrency: "leases"
        case .requestRate(let period, _, _): "rq:\(period)"
        case .tokenRate(let period, _, _): "rt:\(period)"
        case .budget(let period, _): "budget:\(period.rawValue)"
        }
    }

    /// The three numbers `foap_v1_admit` takes after the kind; a budget's last two are the host's own share.
    func admitArguments(share: RedisBudgetShare?) -> [Int] {
        switch self.limit {
        case .concurrency(let limit, let ttl): [limit, Int(ttl.nanoseconds / 1_000_000), 0]
        case .requestRate(let period, let limit, let burst), .tokenRate(let period, let limit, let burst):
            [period, limit, burst]
        case .budget(_, let tokens): [tokens, Int(share?.periodNumber ?? 0), max(0, share?.tokens ?? 0)]
        }
    }

    /// Order of admission, as in `FOAPLimits`: concurrency, request rates, token rates, budgets.
    var order: Int {
        switch self.limit {
        case .concurrency: 0
        case .requestRate: 1
        case .tokenRate: 2
        case .budget: 3
        }
    }
}

/// A budget's UTC calendar period: reset at 00:00, Monday 00:00, the 1st 00:00.
public enum RedisBudgetPeriod: String, Sendable, Hashable, CaseIterable {
    case day, week, month

    var kind: String {
        switch self {
        case .day: "bd"
        case .week: "bw"
        case .month: "bm"
        }
    }
}
