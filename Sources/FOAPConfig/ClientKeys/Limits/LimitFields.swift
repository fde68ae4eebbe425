/// The limit members of one object in the key file (a tier, a group, a key's `limits`, one of its `models`), checked
/// one by one but not yet resolved: a key's own numbers still have to be laid over its tier's.
struct LimitFields: Sendable, Equatable {
    /// Every number a limits object may hold, by member name.
    static let rateKeys: [String: (LimitMetric, RatePeriod)] = Dictionary(
        uniqueKeysWithValues: LimitMetric.allCases.flatMap { metric in
            RatePeriod.allCases.map { period in ("\(metric.rawValue)_per_\(period.rawValue)", (metric, period)) }
        }
    )
    static let budgetKeys: [String: BudgetPeriod] = Dictionary(
        uniqueKeysWithValues: BudgetPeriod.allCases.map { ("tokens_per_\($0.rawValue)", $0) }
    )
    static let concurrencyKey = "concurrent_requests"
    static let burstKey = "burst"
    static let numberKeys: Set<String> = Set(rateKeys.keys).union(budgetKeys.keys).union([concurrencyKey])

    /// The largest count foap accepts: budgets share a 64-bit word with their period number (44 bits of tokens),
    /// and no real limit comes near it.
    static let maximum = 1_000_000_000_000
    /// In-flight counts per worker are 16-bit lanes in the shared region.
    static let maximumConcurrency = 65_535

    /// Number members as written (name → value), all positive integers within bounds.
    var numbers: [String: Int] = [:]
    /// `burst` members: rate name → size.
    var bursts: [String: Int] = [:]

    /// This object's numbers laid over `base` (a tier's): a number given here wins; a burst stays with the rate
    /// it was given for, so a key that sets its own rate gets the default burst unless it gives one too.
    func over(_ base: LimitFields?) -> LimitFields {
        guard let base else {
            return self
        }
        var merged = base
        for (name, value) in self.numbers {
            merged.numbers[name] = value
            merged.bursts[name] = nil
        }
        for (name, value) in self.bursts {
            merged.bursts[name] = value
        }
        return merged
    }

    /// The resolved form. Bursts must already be checked against the rates (see ``burstsWithoutRate``).
    var limitSet: LimitSet {
        var rates: [RateLimit] = []
        var budgets: [BudgetLimit] = []
        for (name, value) in self.numbers {
            if let (metric, period) = Self.rateKeys[name] {
                rates.append(RateLimit(metric: metric, period: period, limit: value, burst: self.bursts[name]))
            } else if let period = Self.budgetKeys[name] {
                budgets.append(BudgetLimit(period: period, tokens: value))
            }
        }
        return LimitSet(rates: rates, budgets: budgets, concurrentRequests: self.numbers[Self.concurrencyKey])
    }

    /// Burst names with no rate of that name among `numbers`, sorted for stable messages.
    var burstsWithoutRate: [String] {
        self.bursts.keys.filter { self.numbers[$0] == nil }.sorted()
    }
}
