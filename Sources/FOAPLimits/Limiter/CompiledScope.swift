import FOAPConfig

/// One limit of one scope, with where its state lives in the region.
enum LimitCell: Sendable {
    case concurrency(limit: Int)
    case rate(RateLimit, RateMath, word: Int)
    case budget(BudgetLimit, word: Int)

    /// Admission takes cells in this order (concurrency first: it is the cheapest to give back).
    var order: Int {
        switch self {
        case .concurrency: 0
        case .rate(let rate, _, _): rate.metric == .requests ? 1 : 2
        case .budget: 3
        }
    }
}

/// A scope's limits resolved to a region slot once, when the limiter is built, so admission does no lookups.
struct CompiledScope: Sendable {
    let scope: LimitScope
    let slot: Int
    let limits: LimitSet
    let cells: [LimitCell]

    init(scope: LimitScope, slot: Int, limits: LimitSet) {
        self.scope = scope
        self.slot = slot
        self.limits = limits
        var cells: [LimitCell] = []
        if let concurrent = limits.concurrentRequests {
            cells.append(.concurrency(limit: concurrent))
        }
        for rate in limits.rates {
            let periodIndex = RatePeriod.allCases.firstIndex(of: rate.period)!
            let index = RegionLayout.rateIndex(metricIsTokens: rate.metric == .tokens, periodIndex: periodIndex)
            cells.append(.rate(rate, RateMath(rate), word: RegionLayout.Slot.rates + index))
        }
        for budget in limits.budgets {
            let index = BudgetPeriod.allCases.firstIndex(of: budget.period)!
            cells.append(.budget(budget, word: RegionLayout.Slot.budgets + index))
        }
        self.cells = cells
    }
}

/// Every scope one key's requests may count against.
struct KeyPlan: Sendable {
    let key: CompiledScope?
    /// In file order, nil where a pattern has no limits (it still stops the search: the first match applies).
    let models: [(pattern: ModelPattern, scope: CompiledScope?)]
    let group: CompiledScope?
    /// The cells a request takes, in admission order, when no pattern (index `models.count`) or pattern `i`
    /// matches: sorted once here, not per request.
    private let cellsByMatch: [[(CompiledScope, LimitCell)]]

    init(key: CompiledScope?, models: [(pattern: ModelPattern, scope: CompiledScope?)], group: CompiledScope?) {
        self.key = key
        self.models = models
        self.group = group
        let matches = models.map(\.scope) + [nil]
        self.cellsByMatch = matches.map { modelScope in
            let scopes = [key, modelScope, group].compactMap { $0 }
            // Kind by kind (stable: key before model before group within a kind), so refusals are deterministic.
            return scopes.flatMap { scope in scope.cells.map { (scope, $0) } }.enumerated()
                .sorted { ($0.element.1.order, $0.offset) < ($1.element.1.order, $1.offset) }.map(\.element)
        }
    }

    /// The scopes a request for `model` counts against: the key, the first matching pattern, the group.
    func scopes(model: String) -> [CompiledScope] {
        let modelScope = self.models.first { $0.pattern.matches(model) }?.scope
        return [self.key, modelScope, self.group].compactMap { $0 }
    }

    /// The cells a request for `model` takes, in admission order.
    func cells(model: String) -> [(CompiledScope, LimitCell)] {
        let match = self.models.firstIndex { $0.pattern.matches(model) } ?? self.models.count
        return self.cellsByMatch[match]
    }
}

/// Builds the plans of every limited key, claiming their slots in the region.
struct LimiterCompiler {
    let region: LimitsRegion
    private(set) var groups: [String: CompiledScope] = [:]
    private(set) var all: [CompiledScope] = []

    init(region: LimitsRegion) {
        self.region = region
    }

    mutating func plans(for keys: ClientKeys) throws(LimitsError) -> [String: KeyPlan] {
        for group in keys.groups where !group.limits.isEmpty {
            self.groups[group.name] = try self.compile(.group(group.name), group.limits)
        }
        var plans: [String: KeyPlan] = [:]
        for key in keys.keys {
            guard let limits = key.limits else {
                continue
            }
            var models: [(pattern: ModelPattern, scope: CompiledScope?)] = []
            for model in limits.models {
                let scope = LimitScope.model(key: key.name, pattern: model.pattern.text)
                models.append((model.pattern, try self.compile(scope, model.limits)))
            }
            plans[key.name] = KeyPlan(
                key: try self.compile(.key(key.name), limits.key),
                models: models,
                group: limits.group.flatMap { self.groups[$0] }
            )
        }
        return plans
    }

    private mutating func compile(_ scope: LimitScope, _ limits: LimitSet) throws(LimitsError) -> CompiledScope? {
        guard !limits.isEmpty else {
            return nil
        }
        guard let slot = self.region.slot(for: scope) else {
            throw LimitsError("the limits region is full (\(self.region.capacity) scopes); cannot track \(scope)")
        }
        let compiled = CompiledScope(scope: scope, slot: slot, limits: limits)
        self.all.append(compiled)
        return compiled
    }
}
