import FOAPConfig
import FOAPLimits
import FOAPRedis

/// This host's own record of what it spent of each budget through Redis, kept in its shared region (so every
/// worker adds to one figure, and reloads and, with `FOAP_STATE_DIR`, restarts keep it).
///
/// Every admission sends the record along (``shares(_:)``) and Redis first raises this host's part to it: when
/// Redis lost its data (a restart without persistence, a failover, `FLUSHALL`, an eviction), each host's spend is
/// back in the very admission that finds it missing — no trigger, no extra round trip, no window where a budget
/// went backwards. For that the record must never exceed what Redis holds for this host: admissions are recorded
/// once Redis took them, refunds as they are sent, extra charges once Redis confirmed them.
enum FleetContributions {
    /// What this host spent of each budget cell that has a record, for the admission to send.
    static func shares(_ cells: [FleetCell]) -> [RedisLimitCell: RedisBudgetShare] {
        var shares: [RedisLimitCell: RedisBudgetShare] = [:]
        for cell in cells {
            guard case .budget(let budget) = cell.source, let host = cell.host else { continue }
            let spent = host.contribution(budget.period)
            if spent.tokens > 0 {
                shares[cell.redis] = RedisBudgetShare(periodNumber: spent.periodNumber, tokens: spent.tokens)
            }
        }
        return shares
    }

    /// Records what Redis took from each budget for an admission.
    static func admitted(_ grant: FleetGrant) {
        for (state, cell) in self.budgets(of: grant) {
            cell.host.addContribution(cell.period, tokens: state.units, periodNumber: state.periodNumber)
        }
    }

    /// Records the settlement of `grant` as Redis will apply it (`actualTokens` nil: refund all): refunds at once;
    /// the returned closure records the extra charges, to be called once Redis confirmed the settlement.
    static func settling(_ grant: FleetGrant, actualTokens: Int?) -> @Sendable () -> Void {
        let actual = max(0, actualTokens ?? 0)
        var charges: [@Sendable () -> Void] = []
        for (state, cell) in self.budgets(of: grant) {
            let delta = actual - state.units
            let record: @Sendable () -> Void = { cell.host.addContribution(cell.period, tokens: delta, periodNumber: state.periodNumber) }
            if delta < 0 { record() } else if delta > 0 { charges.append(record) }
        }
        return { [charges] in charges.forEach { $0() } }
    }

    private static func budgets(of grant: FleetGrant)
        -> [(RedisAdmission.CellState, (host: FleetScopeState, period: BudgetPeriod))]
    {
        grant.admission.cells.compactMap { state in
            guard case .budget = state.cell.limit,
                let cell = grant.cells.first(where: { $0.redis == state.cell }),
                case .budget(let budget) = cell.source, let host = cell.host
            else { return nil }
            return (state, (host, budget.period))
        }
    }
}
