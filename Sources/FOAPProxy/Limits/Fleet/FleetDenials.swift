import FOAPConfig
import FOAPLimits
import FOAPRedis
import NIOCore

/// Redis's refusals kept in the host's shared region, so that once Redis said "over the limit until T", every
/// worker of the host answers the same 429 at once until T, without a round trip: a client (or a whole group's
/// keys) hammering a limit costs Redis one call per host and period, not one per request.
///
/// A refusal holds for requests that need more than the limit still had (its headroom). A request rate's holds
/// until its time: nothing but time frees a request rate. Token rates and budgets are also freed early when
/// reservations settle lower than estimated, so their refusals are trusted for at most `trust` (then Redis is asked
/// again); a budget's 429 still names its reset. Concurrency refusals are never kept: a slot frees at any moment.
enum FleetDenials {
    /// A refusal Redis gave this host for one of `cells` that still holds for `request` at `now`; of several, the
    /// longest (as Redis reports the longest). Nil: ask Redis.
    static func refusal(_ cells: [FleetCell], _ request: AdmissionRequest, now: Int64) -> Refusal? {
        var longest: Refusal?
        for cell in cells {
            guard let host = cell.host, let limit = cell.hostLimit, let denial = host.denial(limit, now: now) else {
                continue
            }
            let (capacity, units) = self.capacity(of: cell, request)
            if let declared = request.declaredOutputTokens, cell.isTokenLimit, declared > capacity {
                return nil  // Redis answers that it never fits (with x-should-retry: false)
            }
            guard units > denial.headroom else { continue }
            let refusal = self.refusal(cell, used: capacity - denial.headroom, units: units, until: denial.until, now: now)
            if let current = longest, (current.retryAfter ?? .zero) >= (refusal.retryAfter ?? .zero) { continue }
            longest = refusal
        }
        return longest
    }

    /// Keeps Redis's refusal for every worker of the host (not a concurrency one, nor one that never fits).
    static func keep(_ refused: RedisRefusal, cells: [FleetCell], now: Int64, trust: TimeAmount) {
        guard !refused.neverFits, let wait = refused.retryAfter,
            let cell = cells.first(where: { $0.redis == refused.cell }), let host = cell.host,
            let limit = cell.hostLimit
        else { return }
        var until = now + wait.nanoseconds
        if case .rate(let rate) = cell.source, rate.metric == .requests {
            // Exact: only time frees a request rate.
        } else {
            until = min(until, now + trust.nanoseconds)
        }
        let capacity = self.capacity(of: cell, AdmissionRequest(key: "", model: "", estimatedTokens: 0)).capacity
        host.deny(limit, until: until, headroom: max(0, capacity - refused.used))
    }

    /// What the limit holds at once (a rate's burst, a budget's tokens), and what `request` needs of it.
    private static func capacity(of cell: FleetCell, _ request: AdmissionRequest) -> (capacity: Int, units: Int) {
        switch cell.source {
        case .rate(let rate) where rate.metric == .requests: (rate.burst, 1)
        case .rate(let rate): (rate.burst, min(request.estimatedTokens, rate.burst))
        case .budget(let budget): (budget.tokens, min(request.estimatedTokens, budget.tokens))
        case .concurrency(let limit): (limit, 1)
        }
    }

    /// The refusal Redis would give now: the same kind, label, scope, numbers and a wait that counts down.
    private static func refusal(_ cell: FleetCell, used: Int, units: Int, until: Int64, now: Int64) -> Refusal {
        switch cell.source {
        case .budget(let budget):
            let reset = UTCCalendar.reset(of: budget.period, at: now)
            return Refusal(
                kind: .budget, label: budget.label, scope: cell.scope, limit: budget.tokens, used: used,
                requested: units, retryAfter: .nanoseconds(reset * 1_000_000_000 - now), resetsAt: reset,
                neverFits: false)
        case .rate(let rate):
            return Refusal(
                kind: rate.metric == .requests ? .requests : .tokens, label: rate.label, scope: cell.scope,
                limit: rate.limit, used: used, requested: units, retryAfter: .nanoseconds(until - now), resetsAt: nil,
                neverFits: false)
        case .concurrency(let limit):
            return Refusal(
                kind: .concurrency, label: "concurrent requests", scope: cell.scope, limit: limit, used: used,
                requested: 1, retryAfter: .nanoseconds(until - now), resetsAt: nil, neverFits: false)
        }
    }
}

extension FleetCell {
    /// A token rate or a budget: a declared output larger than it never fits.
    fileprivate var isTokenLimit: Bool {
        switch self.source {
        case .rate(let rate): rate.metric == .tokens
        case .budget: true
        case .concurrency: false
        }
    }
}
