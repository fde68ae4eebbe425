import FOAPLimits
import FOAPRedis
import NIOCore

/// Redis's answers in the proxy's terms: the same `Refusal` (so the same 429) and `RateStatus` (so the same
/// `x-ratelimit-*` headers) as a local decision.
enum FleetMapping {
    static func refusal(_ refused: RedisRefusal, cells: [FleetCell]) -> Refusal? {
        guard let cell = cells.first(where: { $0.redis == refused.cell }) else {
            return nil
        }
        let retryAfter = refused.retryAfter.map { Duration.nanoseconds($0.nanoseconds) }
        let (kind, label, limit): (LimitKind, String, Int) = switch cell.source {
        case .concurrency(let limit): (.concurrency, "concurrent requests", limit)
        case .rate(let rate): (rate.metric == .requests ? .requests : .tokens, rate.label, rate.limit)
        case .budget(let budget): (.budget, budget.label, budget.tokens)
        }
        return Refusal(
            kind: kind, label: label, scope: cell.scope, limit: limit, used: refused.used,
            requested: refused.requested, retryAfter: retryAfter, resetsAt: refused.resetsAt,
            neverFits: refused.neverFits)
    }

    /// The tightest request rate and token rate after the admission, for the headers.
    static func statuses(_ admission: RedisAdmission, cells: [FleetCell])
        -> (requests: RateStatus?, tokens: RateStatus?)
    {
        var requests: RateStatus?
        var tokens: RateStatus?
        for state in admission.cells {
            guard let cell = cells.first(where: { $0.redis == state.cell }), case .rate(let rate) = cell.source else {
                continue
            }
            let status = RateStatus(
                rate: rate, scope: cell.scope, limit: rate.limit, remaining: state.remaining,
                resetAfterNanoseconds: state.resetAfter.nanoseconds)
            if rate.metric == .requests {
                requests = Self.tighter(requests, status)
            } else {
                tokens = Self.tighter(tokens, status)
            }
        }
        return (requests, tokens)
    }

    /// Fewer remaining is tighter; on a tie, the one that takes longer to refill (as `RateLimiter` chooses).
    private static func tighter(_ current: RateStatus?, _ candidate: RateStatus) -> RateStatus {
        guard let current else { return candidate }
        if candidate.remaining != current.remaining {
            return candidate.remaining < current.remaining ? candidate : current
        }
        return candidate.resetAfterNanoseconds > current.resetAfterNanoseconds ? candidate : current
    }
}
