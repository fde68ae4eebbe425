/// What a rate or budget counts: whole requests, or tokens (prompt + completion).
public enum LimitMetric: String, Sendable, Equatable, Codable, CaseIterable {
    case requests
    case tokens
}

/// The window of a rate limit. Rates refill continuously (GCRA), so the period only sets the speed and the default
/// burst, never a fixed window that a client could straddle to get twice the allowance.
public enum RatePeriod: String, Sendable, Equatable, Codable, CaseIterable {
    case second
    case minute
    case hour

    public var seconds: Int64 {
        switch self {
        case .second: 1
        case .minute: 60
        case .hour: 3_600
        }
    }

    /// The word in the labels OpenAI clients know: `requests per min (RPM)`.
    var shortName: String {
        switch self {
        case .second: "sec"
        case .minute: "min"
        case .hour: "hour"
        }
    }

    var letter: String {
        switch self {
        case .second: "S"
        case .minute: "M"
        case .hour: "H"
        }
    }
}

/// One rate: `limit` requests or tokens per period, with up to `burst` taken at once after a quiet spell.
public struct RateLimit: Sendable, Equatable, Codable {
    public let metric: LimitMetric
    public let period: RatePeriod
    public let limit: Int
    /// The bucket's size; one period's allowance (`limit`) unless the file gives a `burst`.
    public let burst: Int

    public init(metric: LimitMetric, period: RatePeriod, limit: Int, burst: Int? = nil) {
        self.metric = metric
        self.period = period
        self.limit = limit
        self.burst = burst ?? limit
    }

    /// The member name in the key file: `requests_per_minute`.
    public var configKey: String {
        "\(self.metric.rawValue)_per_\(self.period.rawValue)"
    }

    /// For refusals and `foap ctl limits`: `requests per min (RPM)`, `tokens per sec (TPS)`.
    public var label: String {
        "\(self.metric.rawValue) per \(self.period.shortName) (\(self.abbreviation))"
    }

    /// `RPM`, `TPH`, ...: the compact form `foap check` prints.
    public var abbreviation: String {
        (self.metric == .requests ? "R" : "T") + "P" + self.period.letter
    }
}

/// A calendar period of a hard token budget, in UTC, so every worker and host agree on when it resets.
public enum BudgetPeriod: String, Sendable, Equatable, Codable, CaseIterable {
    /// Resets at 00:00 UTC.
    case day
    /// Resets on Monday at 00:00 UTC.
    case week
    /// Resets on the 1st at 00:00 UTC.
    case month
}

/// A hard budget: at most `tokens` per calendar period; when it is spent, requests wait for the reset.
public struct BudgetLimit: Sendable, Equatable, Codable {
    public let period: BudgetPeriod
    public let tokens: Int

    public init(period: BudgetPeriod, tokens: Int) {
        self.period = period
        self.tokens = tokens
    }

    public var configKey: String {
        "tokens_per_\(self.period.rawValue)"
    }

    /// `tokens per day`: budgets have no industry abbreviation, so the label spells them out.
    public var label: String {
        "tokens per \(self.period.rawValue)"
    }
}

/// Every limit of one scope (a key, a model pattern inside a key, or a group), resolved: tier numbers already
/// overridden by the key's own.
public struct LimitSet: Sendable, Equatable, Codable {
    /// In a fixed order (requests before tokens, shorter periods first), so two equal configs compare equal.
    public let rates: [RateLimit]
    /// Day, week, month order.
    public let budgets: [BudgetLimit]
    /// Requests in flight at once; nil: unlimited.
    public let concurrentRequests: Int?

    public init(rates: [RateLimit] = [], budgets: [BudgetLimit] = [], concurrentRequests: Int? = nil) {
        self.rates = rates.sorted { Self.order($0) < Self.order($1) }
        self.budgets = budgets.sorted {
            BudgetPeriod.allCases.firstIndex(of: $0.period)! < BudgetPeriod.allCases.firstIndex(of: $1.period)!
        }
        self.concurrentRequests = concurrentRequests
    }

    public static let none = LimitSet()

    public var isEmpty: Bool {
        self.rates.isEmpty && self.budgets.isEmpty && self.concurrentRequests == nil
    }

    public func rate(_ metric: LimitMetric, per period: RatePeriod) -> RateLimit? {
        self.rates.first { $0.metric == metric && $0.period == period }
    }

    public func budget(_ period: BudgetPeriod) -> BudgetLimit? {
        self.budgets.first { $0.period == period }
    }

    /// The compact form `foap check` prints: `600 RPM, 200000 TPM (burst 50000), 5000000 tokens/day, 16 concurrent`.
    public var summary: String {
        guard !self.isEmpty else {
            return "none"
        }
        var parts = self.rates.map { rate in
            "\(rate.limit) \(rate.abbreviation)" + (rate.burst == rate.limit ? "" : " (burst \(rate.burst))")
        }
        parts += self.budgets.map { "\($0.tokens) tokens/\($0.period.rawValue)" }
        if let concurrent = self.concurrentRequests {
            parts.append("\(concurrent) concurrent")
        }
        return parts.joined(separator: ", ")
    }

    private static func order(_ rate: RateLimit) -> Int {
        LimitMetric.allCases.firstIndex(of: rate.metric)! * 3 + RatePeriod.allCases.firstIndex(of: rate.period)!
    }
}

/// Limits for the requests of one key whose model matches `pattern` (on top of the key's own limits).
public struct ModelLimits: Sendable, Equatable, Codable {
    public let pattern: ModelPattern
    public let limits: LimitSet

    public init(pattern: ModelPattern, limits: LimitSet) {
        self.pattern = pattern
        self.limits = limits
    }
}

/// A key's limits, resolved from the file: its tier's numbers overridden by its own, its model patterns, its group.
///
/// Usage is counted by the key's name, never its hash, so rotating a key's secret keeps what it has used.
public struct KeyLimits: Sendable, Equatable, Codable {
    /// The tier it was built from, for display; nil when the key gave only its own numbers.
    public let tier: String?
    /// The ``LimitGroup`` whose limits this key shares with the other members.
    public let group: String?
    /// Limits on all of the key's requests.
    public let key: LimitSet
    /// In file order; a request counts against the first pattern that matches its model only.
    public let models: [ModelLimits]

    public init(tier: String? = nil, group: String? = nil, key: LimitSet, models: [ModelLimits] = []) {
        self.tier = tier
        self.group = group
        self.key = key
        self.models = models
    }

    /// The first model scope whose pattern matches `model`, as the issue fixes it (never several).
    public func modelLimits(for model: String) -> ModelLimits? {
        self.models.first { $0.pattern.matches(model) }
    }

    /// One line for `foap check`: `tier standard: 600 RPM, ...; group research; gpt-4o*: 100000 TPM`.
    public var summary: String {
        var parts = [(self.tier.map { "tier \($0): " } ?? "") + self.key.summary]
        if let group = self.group {
            parts.append("group \(group)")
        }
        parts += self.models.map { "\($0.pattern.text): \($0.limits.summary)" }
        return parts.joined(separator: "; ")
    }
}

/// A team budget: limits shared by every key that names the group (`limits.group`).
public struct LimitGroup: Sendable, Equatable, Codable {
    public let name: String
    public let limits: LimitSet

    public init(name: String, limits: LimitSet) {
        self.name = name
        self.limits = limits
    }
}
