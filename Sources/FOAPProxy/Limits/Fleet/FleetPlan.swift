import FOAPConfig
import FOAPLimits
import FOAPRedis
import NIOCore

/// One limit of a request as Redis keeps it, with what the proxy needs to answer in its own terms (the scope and
/// label of a 429, the rate of an `x-ratelimit-*` header).
struct FleetCell: Sendable {
    enum Source: Sendable {
        case concurrency(limit: Int)
        case rate(RateLimit)
        case budget(BudgetLimit)
    }

    let redis: RedisLimitCell
    let scope: LimitScope
    let source: Source
    /// This host's own state of the scope (its budget spend, the refusals it was given), shared by its workers;
    /// nil without a region (no key has local limits), and for concurrency, which keeps none.
    let host: FleetScopeState?

    /// The cell's place in the host state; nil for concurrency.
    var hostLimit: FleetScopeState.Limit? {
        switch self.source {
        case .concurrency: nil
        case .rate(let rate): .rate(rate.metric, rate.period)
        case .budget(let budget): .budget(budget.period)
        }
    }
}

/// The Redis cells of every limited key, built once per snapshot like `RateLimiter`'s plans: the key's own, the
/// first model pattern that matches, and the group's; the tag is the group's name when the key has one (so the
/// group's counters sit in the same slot as the key's), else the key's. With the host's region, each scope's host
/// state is claimed here too, once, not per request.
struct FleetPlan: Sendable {
    struct KeyCells: Sendable {
        let tag: String
        let models: [ModelPattern]
        /// Per matching pattern index; the last entry is for no match.
        let cellsByMatch: [[FleetCell]]

        func cells(model: String) -> [FleetCell] {
            self.cellsByMatch[self.models.firstIndex { $0.matches(model) } ?? self.models.count]
        }
    }

    private let keys: [String: KeyCells]

    /// - Throws: when `region` has no room left for a scope's host state.
    init(keys: ClientKeys, leaseTTL: TimeAmount, region: LimitsRegion?) throws(LimitsError) {
        var plans: [String: KeyCells] = [:]
        for key in keys.keys {
            guard let limits = key.limits else { continue }
            let own = try Self.cells(.key(key.name), limits.key, leaseTTL: leaseTTL, region: region)
            let group = limits.group.flatMap { name in keys.group(named: name).map { (name, $0.limits) } }
            var groupCells: [FleetCell] = []
            if let (name, limits) = group {
                groupCells = try Self.cells(.group(name), limits, leaseTTL: leaseTTL, region: region)
            }
            var modelCells: [[FleetCell]] = []
            for model in limits.models {
                let scope = LimitScope.model(key: key.name, pattern: model.pattern.text)
                modelCells.append(try Self.cells(scope, model.limits, leaseTTL: leaseTTL, region: region))
            }
            let byMatch = (modelCells + [[]]).map { own + $0 + groupCells }
            guard byMatch.contains(where: { !$0.isEmpty }) else { continue }
            plans[key.name] = KeyCells(
                tag: limits.group ?? key.name, models: limits.models.map(\.pattern), cellsByMatch: byMatch)
        }
        self.keys = plans
    }

    func plan(key: String) -> KeyCells? {
        self.keys[key]
    }

    private static func cells(
        _ scope: LimitScope, _ limits: LimitSet, leaseTTL: TimeAmount, region: LimitsRegion?
    ) throws(LimitsError) -> [FleetCell] {
        guard !limits.isEmpty else { return [] }
        let name = Self.scopeName(scope)
        var host: FleetScopeState?
        if let region {
            host = try FleetScopeState(region: region, scope: scope)
        }
        var cells: [FleetCell] = []
        if let concurrent = limits.concurrentRequests {
            cells.append(FleetCell(
                redis: RedisLimitCell(scope: name, limit: .concurrency(limit: concurrent, leaseTTL: leaseTTL)),
                scope: scope, source: .concurrency(limit: concurrent), host: nil))
        }
        for rate in limits.rates {
            let period = Int(rate.period.seconds)
            let limit: RedisLimitCell.Limit = rate.metric == .requests
                ? .requestRate(periodSeconds: period, limit: rate.limit, burst: rate.burst)
                : .tokenRate(periodSeconds: period, limit: rate.limit, burst: rate.burst)
            cells.append(FleetCell(
                redis: RedisLimitCell(scope: name, limit: limit), scope: scope, source: .rate(rate), host: host))
        }
        for budget in limits.budgets {
            let period: RedisBudgetPeriod = switch budget.period {
            case .day: .day
            case .week: .week
            case .month: .month
            }
            cells.append(FleetCell(
                redis: RedisLimitCell(scope: name, limit: .budget(period, tokens: budget.tokens)),
                scope: scope, source: .budget(budget), host: host))
        }
        return cells
    }

    /// `key:team-b`, `model:team-b:gpt-4o*`, `group:research`: part of each Redis key.
    static func scopeName(_ scope: LimitScope) -> String {
        switch scope {
        case .key(let name): "key:\(name)"
        case .model(let key, let pattern): "model:\(key):\(pattern)"
        case .group(let name): "group:\(name)"
        }
    }
}
