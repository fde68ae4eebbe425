import FOAPConfig

/// Admission for one worker: decides every request against the limits of its key, the first model pattern that
/// matches, and the key's group, all-or-nothing, exactly across every process that maps the same region.
///
/// Built once per worker generation from the snapshot's ``ClientKeys`` (it claims the scopes' slots then), so the
/// hot path is a dictionary lookup and a few CAS loops. The clock is a parameter: wall-clock nanoseconds since the
/// epoch, the same in every process, which keeps every decision testable.
public struct RateLimiter: Sendable {
    /// The host's region: a fleet backend keeps its own per-host state there too (``FleetScopeState``).
    public let region: LimitsRegion
    let holder: Int
    let plans: [String: KeyPlan]
    /// Every limited scope once (groups once, not per member), for ``usage(now:)``.
    let scopes: [CompiledScope]

    /// - Parameters:
    ///   - holder: this worker's id from the master, `0..<LimitsRegion.maximumHolders`, unique among live workers.
    /// - Throws: when the region has no room left for a scope.
    public init(region: LimitsRegion, holder: Int, keys: ClientKeys) throws(LimitsError) {
        guard (0..<LimitsRegion.maximumHolders).contains(holder) else {
            throw LimitsError("holder \(holder) is out of range 0..<\(LimitsRegion.maximumHolders)")
        }
        var compiler = LimiterCompiler(region: region)
        self.plans = try compiler.plans(for: keys)
        self.scopes = compiler.all
        self.region = region
        self.holder = holder
    }

    /// Whether `key` has any limit (its own, a model pattern's or its group's): the proxy estimates tokens only for
    /// those, so unlimited keys pay nothing for the limits.
    public func isLimited(_ key: String) -> Bool {
        self.plans[key] != nil
    }

    /// Admits the request or says which limit refused it. An admitted request must be released (and settled) via
    /// its ticket; a refused one took nothing from any limit.
    public func admit(_ request: AdmissionRequest, now: Int64) -> AdmissionDecision {
        let cells = self.plans[request.key]?.cells(model: request.model) ?? []
        guard !cells.isEmpty else {
            return .admitted(Admission(ticket: .unlimited(), requests: nil, tokens: nil))
        }
        if let refusal = Self.neverFits(request, cells) {
            return .refused(refusal)
        }
        let taker = CellTaker(region: self.region, holder: self.holder)
        // Take each limit in order; one refusal gives back what was taken, newest first (another process may also
        // have taken in between: the same path).
        var taken: [Taken] = []
        taken.reserveCapacity(cells.count)
        for (scope, cell) in cells {
            switch taker.take(cell, of: scope, request, now: now, dryRun: false) {
            case .success(let took):
                if let took { taken.append(took) }
            case .failure(let refusal):
                taken.reversed().forEach(taker.undo)
                return .refused(Self.longestRefusal(cells, request, taker: taker, now: now) ?? refusal)
            }
        }
        return .admitted(Self.admission(taken, taker: taker))
    }

    /// Replaces the ticket's reservations by the real count (nil: the upstream never answered, refund all).
    /// Only the first settlement of a ticket counts.
    @discardableResult
    public func settle(_ ticket: AdmissionTicket, actualTokens: Int?, now: Int64) -> Bool {
        ticket.settle(actualTokens: actualTokens, now: now)
    }

    /// Gives the ticket's concurrency slots back; idempotent.
    @discardableResult
    public func release(_ ticket: AdmissionTicket) -> Bool {
        ticket.release()
    }

    /// Of every limit that refuses now, the one that lasts longest: the client cannot succeed before then anyway.
    /// Only read (a dry run), and only once a request is refused.
    private static func longestRefusal(
        _ cells: [(CompiledScope, LimitCell)], _ request: AdmissionRequest, taker: CellTaker, now: Int64
    ) -> Refusal? {
        let refusals = cells.compactMap { scope, cell in
            if case .failure(let refusal) = taker.take(cell, of: scope, request, now: now, dryRun: true) {
                return refusal
            }
            return nil
        }
        return refusals.max { ($0.retryAfter ?? .zero) < ($1.retryAfter ?? .zero) }
    }

    /// A refusal for the first token limit the declared output alone exceeds.
    private static func neverFits(_ request: AdmissionRequest, _ cells: [(CompiledScope, LimitCell)]) -> Refusal? {
        guard let declared = request.declaredOutputTokens else {
            return nil
        }
        for (scope, cell) in cells {
            let found: (LimitKind, String, Int)
            switch cell {
            case .rate(let rate, _, _) where rate.metric == .tokens: found = (.tokens, rate.label, rate.burst)
            case .budget(let budget, _): found = (.budget, budget.label, budget.tokens)
            default: continue
            }
            if declared > found.2 {
                return Refusal(
                    kind: found.0, label: found.1, scope: scope.scope, limit: found.2, used: 0, requested: declared,
                    retryAfter: nil, resetsAt: nil, neverFits: true
                )
            }
        }
        return nil
    }

    private static func admission(_ taken: [Taken], taker: CellTaker) -> Admission {
        var concurrency: [Int] = []
        var reservations: [AdmissionTicket.Reservation] = []
        var requests: RateStatus?
        var tokens: RateStatus?
        for item in taken {
            switch item {
            case .concurrency(let slot):
                concurrency.append(slot)
            case .rate(let slot, let word, let math, let units, let status, let metric):
                if metric == .tokens {
                    reservations.append(.init(slot: slot, place: .rate(word: word, math: math), units: units))
                    tokens = Self.tighter(tokens, status)
                } else {
                    requests = Self.tighter(requests, status)
                }
            case .budget(let slot, let word, let kind, let period, let units):
                let place = AdmissionTicket.Reservation.Place.budget(word: word, period: kind, number: period)
                reservations.append(.init(slot: slot, place: place, units: units))
            }
        }
        let ticket = AdmissionTicket(taker: taker, concurrencySlots: concurrency, reservations: reservations)
        return Admission(ticket: ticket, requests: requests, tokens: tokens)
    }

    /// Fewer remaining is tighter; on a tie, the one that takes longer to refill.
    private static func tighter(_ current: RateStatus?, _ candidate: RateStatus) -> RateStatus {
        guard let current else {
            return candidate
        }
        if candidate.remaining != current.remaining {
            return candidate.remaining < current.remaining ? candidate : current
        }
        return candidate.resetAfterNanoseconds > current.resetAfterNanoseconds ? candidate : current
    }
}
