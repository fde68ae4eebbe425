import Atomics
import FOAPConfig

/// What one host keeps of a scope whose limits a fleet's Redis decides, shared by every worker of the host:
///
/// - its own **spend of each budget** through Redis, so that when Redis loses its data (a restart without
///   persistence, a failover, `FLUSHALL`, an eviction) the host puts its part back and a budget never goes backwards;
/// - the **refusals** Redis gave, so every worker refuses at once, without asking Redis again, until they run out.
///
/// It lives in a slot of its own beside the scope's (the same table, the scope's kind with a high bit): the scope's
/// own counters stay the `local` fallback's, and a fleet slot uses only words the master never zeroes or reclaims.
/// Like the region, it survives reloads and, with `FOAP_STATE_DIR`, master restarts.
public struct FleetScopeState: Sendable {
    /// One limit of the scope, at the same index as the scope's own counter of it.
    public enum Limit: Sendable, Hashable {
        case rate(LimitMetric, RatePeriod)
        case budget(BudgetPeriod)

        var word: Int {
            switch self {
            case .rate(let metric, let period):
                RegionLayout.rateIndex(
                    metricIsTokens: metric == .tokens, periodIndex: RatePeriod.allCases.firstIndex(of: period)!)
            case .budget(let period):
                RegionLayout.Slot.budgets - RegionLayout.Slot.rates + BudgetPeriod.allCases.firstIndex(of: period)!
            }
        }
    }

    /// A refusal Redis gave: requests that need more than `headroom` units are refused until `until`.
    public struct Denial: Sendable, Equatable {
        /// Nanoseconds since the epoch (kept to the millisecond, rounded up).
        public let until: Int64
        /// What the limit still had: a request that needs no more than this is asked of Redis again.
        public let headroom: Int
    }

    /// The largest headroom a denial word holds; a refusal with more room (a huge request) is not kept.
    public static let maximumHeadroom = Int(Self.headroomMask)
    private static let headroomBits: UInt64 = 22
    private static let headroomMask: UInt64 = (1 << headroomBits) - 1

    let region: LimitsRegion
    let slot: Int

    /// Claims the fleet slot of `scope` (once, when a worker builds its plan, like the scope's own slot).
    /// - Throws: when the region has no room left.
    public init(region: LimitsRegion, scope: LimitScope) throws(LimitsError) {
        guard let slot = region.slot(kind: RegionLayout.FleetSlot.kindBit | scope.kind, identity: scope.identity) else {
            throw LimitsError("the limits region is full (\(region.capacity) scopes); cannot track \(scope) for the fleet")
        }
        self.region = region
        self.slot = slot
    }

    // MARK: - This host's spend of each budget

    /// What this host spent of the budget through Redis in period `periodNumber` (as Redis numbers periods).
    public func contribution(_ period: BudgetPeriod) -> (periodNumber: Int64, tokens: Int) {
        let word = BudgetWord(raw: self.contributionWord(period).load(ordering: .acquiring))
        return (word.period, Int(word.used))
    }

    /// Adds `delta` tokens to what this host spent in period `periodNumber`, as Redis does to its own field: a
    /// charge lands in the latest period the word has seen; a refund applies only to its own period (after a
    /// rollover it is void) and never goes below 0.
    ///
    /// The caller keeps this record at or below Redis's, never above: charges once Redis has taken them, refunds
    /// as soon as they are sent. Restoring it can then only put back what Redis really had.
    public func addContribution(_ period: BudgetPeriod, tokens delta: Int, periodNumber: Int64) {
        guard delta != 0 else { return }
        let atomic = self.contributionWord(period)
        var current = atomic.load(ordering: .relaxed)
        while true {
            let stored = BudgetWord(raw: current)
            let desired: BudgetWord
            if delta > 0 {
                let target = max(stored.period, periodNumber)
                desired = BudgetWord(period: target, used: stored.used(in: target) + UInt64(delta))
            } else {
                guard stored.period == periodNumber else { return }
                desired = BudgetWord(period: periodNumber, used: stored.used - min(stored.used, UInt64(-delta)))
            }
            let (exchanged, found) = atomic.weakCompareExchange(
                expected: current, desired: desired.raw, ordering: .acquiringAndReleasing)
            if exchanged { return }
            current = found
        }
    }

    // MARK: - Refusals

    /// The refusal of `limit` still in force at `now` (nanoseconds since the epoch), if any.
    public func denial(_ limit: Limit, now: Int64) -> Denial? {
        let raw = self.denialWord(limit).load(ordering: .relaxed)
        let until = Int64(raw >> Self.headroomBits) * 1_000_000
        guard raw != 0, until > now else { return nil }
        return Denial(until: until, headroom: Int(raw & Self.headroomMask))
    }

    /// Keeps Redis's refusal of `limit` until `until` (nanoseconds since the epoch); the last one written wins.
    /// A headroom over ``maximumHeadroom`` is not kept (the word has no room for it, and a smaller figure would
    /// refuse requests Redis admits).
    public func deny(_ limit: Limit, until: Int64, headroom: Int) {
        guard until > 0, (0...Self.maximumHeadroom).contains(headroom) else { return }
        let milliseconds = UInt64((until + 999_999) / 1_000_000)
        self.denialWord(limit).store(milliseconds << Self.headroomBits | UInt64(headroom), ordering: .relaxed)
    }

    private func contributionWord(_ period: BudgetPeriod) -> UnsafeAtomic<UInt64> {
        self.region.slotWord(
            self.slot, RegionLayout.FleetSlot.contributions + BudgetPeriod.allCases.firstIndex(of: period)!)
    }

    private func denialWord(_ limit: Limit) -> UnsafeAtomic<UInt64> {
        self.region.slotWord(self.slot, RegionLayout.FleetSlot.denials + limit.word)
    }
}
