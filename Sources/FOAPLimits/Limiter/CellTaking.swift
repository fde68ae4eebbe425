import Atomics
import FOAPConfig

/// What admission took from one limit: given back when another limit refuses, or settled after the answer.
enum Taken: Sendable {
    case concurrency(slot: Int)
    case rate(slot: Int, word: Int, math: RateMath, units: Int, status: RateStatus, metric: LimitMetric)
    case budget(slot: Int, word: Int, kind: BudgetPeriod, period: Int64, units: Int)
}

/// A take's outcome (not a `Result`: a refusal is an answer, not an error).
enum TakeResult {
    case success(Taken?)
    case failure(Refusal)
}

/// Checking and taking one cell with a CAS loop; `dryRun` only reads, for the check of every limit that comes
/// before any take (so a request that one limit refuses usually touches nothing at all).
struct CellTaker {
    let region: LimitsRegion
    let holder: Int

    func take(
        _ cell: LimitCell,
        of scope: CompiledScope,
        _ request: AdmissionRequest,
        now: Int64,
        dryRun: Bool
    ) -> TakeResult {
        switch cell {
        case .concurrency(let limit):
            if dryRun {
                let used = self.region.inFlight(slot: scope.slot)
                return used < limit ? .success(nil) : .failure(Self.concurrencyRefusal(scope, limit: limit, used: used))
            }
            if let used = self.region.acquireInFlight(slot: scope.slot, limit: limit, holder: self.holder) {
                return .failure(Self.concurrencyRefusal(scope, limit: limit, used: used))
            }
            return .success(.concurrency(slot: scope.slot))
        case .rate(let rate, let math, let word):
            return self.takeRate(rate, math, word: word, of: scope, request, now: now, dryRun: dryRun)
        case .budget(let budget, let word):
            return self.takeBudget(budget, word: word, of: scope, request, now: now, dryRun: dryRun)
        }
    }

    /// Gives back what ``take(_:of:_:now:dryRun:)`` took.
    func undo(_ taken: Taken) {
        switch taken {
        case .concurrency(let slot):
            self.region.releaseInFlight(slot: slot, holder: self.holder)
        case .rate(let slot, let word, let math, let units, _, _):
            self.adjustRate(slot: slot, word: word, by: -math.increment(units), now: 0)
        case .budget(let slot, let word, _, let period, let units):
            self.adjustBudget(slot: slot, word: word, reservedIn: period, by: -Int64(units), now: period)
        }
    }

    /// Units of `request` a token limit of size `capacity` reserves: the estimate, but never more than the limit
    /// holds (a prompt-heavy request whose declared output fits must not wait forever; settlement charges the rest).
    static func tokenUnits(_ request: AdmissionRequest, capacity: Int) -> Int {
        min(request.estimatedTokens, capacity)
    }

    // MARK: - Rates

    private func takeRate(
        _ rate: RateLimit,
        _ math: RateMath,
        word: Int,
        of scope: CompiledScope,
        _ request: AdmissionRequest,
        now: Int64,
        dryRun: Bool
    ) -> TakeResult {
        let units = rate.metric == .requests ? 1 : Self.tokenUnits(request, capacity: rate.burst)
        let atomic = self.region.slotWord(scope.slot, word)
        var current = atomic.load(ordering: .relaxed)
        while true {
            let tat = Int64(bitPattern: current)
            switch math.take(tat: tat, now: now, checkUnits: max(units, 1), chargeUnits: units) {
            case .refused(let wait):
                return .failure(
                    Refusal(
                        kind: rate.metric == .requests ? .requests : .tokens, label: rate.label, scope: scope.scope,
                        limit: rate.limit, used: math.used(tat: tat, now: now), requested: units,
                        retryAfter: .nanoseconds(wait), resetsAt: nil, neverFits: false
                    )
                )
            case .admitted(let newTAT):
                if dryRun {
                    return .success(nil)
                }
                let (exchanged, found) = atomic.weakCompareExchange(
                    expected: current,
                    desired: UInt64(bitPattern: newTAT),
                    ordering: .acquiringAndReleasing
                )
                guard exchanged else {
                    current = found
                    continue
                }
                let status = RateStatus(
                    rate: rate, scope: scope.scope, limit: rate.limit,
                    remaining: math.remaining(tat: newTAT, now: now),
                    resetAfterNanoseconds: math.resetAfter(tat: newTAT, now: now)
                )
                return .success(
                    .rate(slot: scope.slot, word: word, math: math, units: units, status: status, metric: rate.metric)
                )
            }
        }
    }

    /// Moves a TAT by `delta` nanoseconds: back (a refund or an undo: from the TAT as stored, so a bucket that is
    /// already full stays full and never gains credit) or forward (an extra charge: from now at the earliest).
    func adjustRate(slot: Int, word: Int, by delta: Int64, now: Int64) {
        guard delta != 0 else {
            return
        }
        let atomic = self.region.slotWord(slot, word)
        var current = atomic.load(ordering: .relaxed)
        while true {
            let tat = Int64(bitPattern: current)
            let moved = delta < 0 ? RateMath.add(tat, delta) : RateMath.add(max(tat, now), delta)
            let (exchanged, found) = atomic.weakCompareExchange(
                expected: current,
                desired: UInt64(bitPattern: moved),
                ordering: .acquiringAndReleasing
            )
            if exchanged {
                return
            }
            current = found
        }
    }

    // MARK: - Budgets

    private func takeBudget(
        _ budget: BudgetLimit,
        word: Int,
        of scope: CompiledScope,
        _ request: AdmissionRequest,
        now: Int64,
        dryRun: Bool
    ) -> TakeResult {
        let units = Self.tokenUnits(request, capacity: budget.tokens)
        let period = UTCCalendar.periodNumber(budget.period, at: now)
        let atomic = self.region.slotWord(scope.slot, word)
        var current = atomic.load(ordering: .relaxed)
        while true {
            let used = BudgetWord(raw: current).used(in: period)
            guard used + UInt64(max(units, 1)) <= UInt64(budget.tokens) else {
                let reset = UTCCalendar.start(of: budget.period, number: period + 1)
                let wait = reset * UTCCalendar.nanosPerSecond - now
                return .failure(
                    Refusal(
                        kind: .budget, label: budget.label, scope: scope.scope, limit: budget.tokens, used: Int(used),
                        requested: units, retryAfter: .nanoseconds(wait), resetsAt: reset, neverFits: false
                    )
                )
            }
            if dryRun {
                return .success(nil)
            }
            let desired = BudgetWord(period: period, used: used + UInt64(units)).raw
            let (exchanged, found) = atomic.weakCompareExchange(
                expected: current,
                desired: desired,
                ordering: .acquiringAndReleasing
            )
            if exchanged {
                return .success(.budget(slot: scope.slot, word: word, kind: budget.period, period: period, units: units))
            }
            current = found
        }
    }

    /// Adds `delta` tokens to a budget reserved in period `reservedIn`. Within that period it is exact (a refund
    /// never goes below 0); once the period has rolled over, a refund is void (the old period is gone) and an
    /// extra charge lands in the current period (`now` is then a period number of the same kind).
    func adjustBudget(slot: Int, word: Int, reservedIn: Int64, by delta: Int64, now currentPeriod: Int64) {
        guard delta != 0 else {
            return
        }
        let atomic = self.region.slotWord(slot, word)
        var current = atomic.load(ordering: .relaxed)
        while true {
            let stored = BudgetWord(raw: current)
            var target = currentPeriod
            if reservedIn != currentPeriod, delta < 0 {
                return
            }
            if stored.period > target {
                // Another process's clock already moved the word on: never roll it back.
                guard delta > 0 else {
                    return
                }
                target = stored.period
            }
            let used = Int64(stored.used(in: target))
            let desired = BudgetWord(period: target, used: UInt64(max(0, used + delta))).raw
            let (exchanged, found) = atomic.weakCompareExchange(
                expected: current,
                desired: desired,
                ordering: .acquiringAndReleasing
            )
            if exchanged {
                return
            }
            current = found
        }
    }

    private static func concurrencyRefusal(_ scope: CompiledScope, limit: Int, used: Int) -> Refusal {
        Refusal(
            kind: .concurrency, label: "concurrent requests", scope: scope.scope, limit: limit, used: used,
            requested: 1, retryAfter: .seconds(1), resetsAt: nil, neverFits: false
        )
    }
}
