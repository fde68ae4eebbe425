import Atomics
import FOAPConfig

/// One scope's limits as they stand, for `foap ctl limits`.
public struct ScopeUsage: Sendable, Equatable {
    public let scope: LimitScope
    public let limits: [LimitUsage]
}

/// One limit as it stands at a given instant.
public struct LimitUsage: Sendable, Equatable {
    public let kind: LimitKind
    public let label: String
    public let limit: Int
    /// Units in the bucket not yet refilled, tokens used this period, or requests in flight.
    public let used: Int
    /// What could be taken now (a rate's remaining can exceed `limit` when its burst is larger).
    public let remaining: Int
    /// Until the limit is whole again: the bucket full, the budget's period over; zero for concurrency.
    public let resetAfter: Duration
    /// Unix seconds of a budget's reset; nil for other kinds.
    public let resetsAt: Int64?
}

extension RateLimiter {
    /// Every limited scope of the config, in config order (groups first).
    public func usage(now: Int64) -> [ScopeUsage] {
        self.scopes.map { scope in
            ScopeUsage(scope: scope.scope, limits: scope.cells.map { self.usage(of: $0, in: scope.slot, now: now) })
        }
    }

    private func usage(of cell: LimitCell, in slot: Int, now: Int64) -> LimitUsage {
        switch cell {
        case .concurrency(let limit):
            let used = self.region.inFlight(slot: slot)
            return LimitUsage(
                kind: .concurrency, label: "concurrent requests", limit: limit, used: used,
                remaining: max(0, limit - used), resetAfter: .zero, resetsAt: nil
            )
        case .rate(let rate, let math, let word):
            let tat = Int64(bitPattern: self.region.slotWord(slot, word).load(ordering: .relaxed))
            return LimitUsage(
                kind: rate.metric == .requests ? .requests : .tokens, label: rate.label, limit: rate.limit,
                used: math.used(tat: tat, now: now), remaining: math.remaining(tat: tat, now: now),
                resetAfter: .nanoseconds(math.resetAfter(tat: tat, now: now)), resetsAt: nil
            )
        case .budget(let budget, let word):
            let period = UTCCalendar.periodNumber(budget.period, at: now)
            let used = Int(BudgetWord(raw: self.region.slotWord(slot, word).load(ordering: .relaxed)).used(in: period))
            let reset = UTCCalendar.start(of: budget.period, number: period + 1)
            return LimitUsage(
                kind: .budget, label: budget.label, limit: budget.tokens, used: used,
                remaining: max(0, budget.tokens - used),
                resetAfter: .nanoseconds(reset * UTCCalendar.nanosPerSecond - now), resetsAt: reset
            )
        }
    }
}
