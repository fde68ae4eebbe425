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
}

/// The Redis cells of every limited key, built once per snapshot like `RateLimiter`'s plans: the key's own, the
/// first model pattern that matches, and the group's; the tag is the group's name when the key has one (so the
/// group's counters sit in the same slot as the key's), else the key's.
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

    init(keys: ClientKeys, leaseTTL: TimeAmount) {
        var plans: [String: KeyCells] = [:]
        for key in keys.keys {
            guard let limits = key.limits else { continue }
            let own = Self.cells(.key(key.name), limits.key, leaseTTL: leaseTTL)
            let group = limits.group.flatMap { name in keys.group(named: name).map { (name, $0.limits) } }
            let groupCells = group.map { Self.cells(.group($0.0), $0.1, leaseTTL: leaseTTL) } ?? []
            let modelCells = limits.models.map {
                Self.cells(.model(key: key.name, pattern: $0.pattern.text), $0.limits, leaseTTL: leaseTTL)
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

    private static func cells(_ scope: LimitScope, _ limits: LimitSet, leaseTTL: TimeAmount) -> [FleetCell] {
        let name = Self.scopeName(scope)
        var cells: [FleetCell] = []
        if let concurrent = limits.concurrentRequests {
            cells.append(FleetCell(
                redis: RedisLimitCell(scope: name, limit: .concurrency(limit: concurrent, leaseTTL: leaseTTL)),
                scope: scope, source: .concurrency(limit: concurrent)))
        }
        for rate in limits.rates {
            let period = Int(rate.period.seconds)
            let limit: RedisLimitCell.Limit = rate.metric == .requests
                ? .requestRate(periodSeconds: period, limit: rate.limit, burst: rate.burst)
                : .tokenRate(periodSeconds: period, limit: rate.limit, burst: rate.burst)
            cells.append(FleetCell(redis: RedisLimitCell(scope: name, limit: limit), scope: scope, source: .rate(rate)))
        }
        for budget in limits.budgets {
            let period: RedisBudgetPeriod = switch budget.period {
            case .day: .day
            case .week: .week
            case .month: .month
            }
            cells.append(FleetCell(
                redis: RedisLimitCell(scope: name, limit: .budget(period, tokens: budget.tokens)),
                scope: scope, source: .budget(budget)))
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
