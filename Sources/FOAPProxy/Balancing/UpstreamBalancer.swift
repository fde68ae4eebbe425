import FOAPConfig
import NIOCore

/// The upstreams of one pooled endpoint as one worker loop sees them: requests in flight, failures in a row,
/// cooldowns and rate limits. Picks the upstream for each attempt.
///
/// A value type with time passed in, so its tests drive it with a hand-moved clock. Loop-bound in use (one per
/// endpoint per event loop, see `LoopBalancers`): no locks, and nothing shared between workers — each worker
/// learns about a failing upstream from its own requests, like nginx's `max_fails`.
///
/// Passive health: `maxFails` failures in a row (connect errors, timeouts, 5xx) cool an upstream down for
/// `cooldown`, doubled for each further cooldown in a row up to ``PoolPolicy/maximumCooldown``. When it ends, one
/// real request probes it (half-open); success brings it back, failure cools it down again, longer.
struct UpstreamBalancer {
    /// What `/health/{model}` shows for an upstream.
    enum State: Equatable {
        case healthy
        case coolingDown(remaining: TimeAmount)
        /// The cooldown is over; the next request (only one at a time) finds out whether it recovered.
        case awaitingProbe
        case probing
        case rateLimited(remaining: TimeAmount)

        var label: String {
            switch self {
            case .healthy: "healthy"
            case .coolingDown: "cooling_down"
            case .awaitingProbe: "awaiting_probe"
            case .probing: "probing"
            case .rateLimited: "rate_limited"
            }
        }
    }

    struct Member {
        let weight: Int
        var inFlight = 0
        var consecutiveFailures = 0
        /// Cooldowns in a row without a success between them.
        var cooldowns = 0
        /// Set while the upstream is out; once passed, it is half-open until its probe ends.
        var cooldownUntil: NIODeadline?
        var probeInFlight = false
        /// A 429's `retry-after`.
        var blockedUntil: NIODeadline?
        /// Smooth weighted round robin's running weight.
        var currentWeight = 0
    }

    let strategy: BalancingStrategy
    let maxFails: Int
    let cooldown: TimeAmount
    private(set) var members: [Member]
    private var nextInTurn = 0

    init(policy: PoolPolicy, weights: [Int]) {
        precondition(!weights.isEmpty, "a pool needs upstreams")
        self.strategy = policy.strategy
        self.maxFails = policy.maxFails
        self.cooldown = .nanoseconds(Int64(policy.cooldown * 1_000_000_000))
        self.members = weights.map { Member(weight: $0) }
    }

    // MARK: Picking

    /// Picks the upstream for the next attempt among those not in `tried`, and counts it in flight.
    /// - Returns: nil when every untried upstream is cooling down, probing or rate-limited.
    mutating func pick(excluding tried: UpstreamSet, now: NIODeadline) -> Int? {
        let candidates = self.members.indices.filter { !tried.contains($0) && self.isAvailable($0, now: now) }
        guard !candidates.isEmpty else {
            return nil
        }
        // The turn (round robin, weights) moves with requests, not attempts: a retry takes the heaviest of what is
        // left and leaves the turn alone, so an upstream that keeps failing over does not shift every other pick.
        let firstAttempt = tried == .empty
        let chosen: Int
        switch self.strategy {
        case .ordered:
            chosen = candidates[0]
        case .roundRobin:
            chosen = candidates.first { $0 >= self.nextInTurn } ?? candidates[0]
            if firstAttempt {
                self.nextInTurn = chosen + 1
            }
        case .weighted:
            chosen = firstAttempt ? self.smoothWeighted(among: candidates) : self.heaviest(of: candidates)
        case .leastInflight:
            let fewest = candidates.map { self.members[$0].inFlight }.min()!
            let tied = candidates.filter { self.members[$0].inFlight == fewest }
            chosen = firstAttempt ? self.smoothWeighted(among: tied) : self.heaviest(of: tied)
        }
        self.members[chosen].inFlight += 1
        if self.members[chosen].cooldownUntil != nil {
            self.members[chosen].probeInFlight = true
        }
        return chosen
    }

    /// Whether `pick` would find an upstream now (without picking one).
    func hasCandidate(excluding tried: UpstreamSet, now: NIODeadline) -> Bool {
        self.members.indices.contains { !tried.contains($0) && self.isAvailable($0, now: now) }
    }

    /// nginx's smooth weighted round robin: spreads picks in proportion to weight and interleaves them (3:1 gives
    /// a a b a, not a a a b), with no randomness, so counts are exact.
    private mutating func smoothWeighted(among candidates: [Int]) -> Int {
        guard candidates.count > 1 else {
            return candidates[0]
        }
        var total = 0
        var best = candidates[0]
        for index in candidates {
            self.members[index].currentWeight += self.members[index].weight
            total += self.members[index].weight
            if self.members[index].currentWeight > self.members[best].currentWeight {
                best = index
            }
        }
        self.members[best].currentWeight -= total
        return best
    }

    private func heaviest(of candidates: [Int]) -> Int {
        candidates.max { self.members[$0].weight < self.members[$1].weight } ?? candidates[0]
    }

    private func isAvailable(_ index: Int, now: NIODeadline) -> Bool {
        let member = self.members[index]
        if let blocked = member.blockedUntil, blocked > now {
            return false
        }
        guard let until = member.cooldownUntil else {
            return true
        }
        return until <= now && !member.probeInFlight
    }

    // MARK: Outcomes

    /// The attempt on `index` ended, however it ended (verdicts are separate): it is no longer in flight.
    mutating func finished(_ index: Int) {
        self.members[index].inFlight = max(0, self.members[index].inFlight - 1)
    }

    /// The upstream answered with a status that says it works (anything but 5xx and 429).
    mutating func succeeded(_ index: Int) {
        self.members[index].consecutiveFailures = 0
        self.members[index].cooldowns = 0
        self.members[index].cooldownUntil = nil
        self.members[index].probeInFlight = false
    }

    /// Connect error, reset, timeout, or a 5xx. A failed probe, or the `maxFails`-th failure in a row, starts a
    /// cooldown (longer each time in a row).
    mutating func failed(_ index: Int, now: NIODeadline) {
        var member = self.members[index]
        member.consecutiveFailures += 1
        let probeFailed = member.probeInFlight
        member.probeInFlight = false
        if probeFailed || member.consecutiveFailures >= self.maxFails {
            let factor = Int64(1) << Int64(min(member.cooldowns, 16))
            let maximum = Int64(PoolPolicy.maximumCooldown * 1_000_000_000)
            member.cooldownUntil = now + .nanoseconds(min(self.cooldown.nanoseconds * factor, maximum))
            member.cooldowns += 1
            member.consecutiveFailures = 0
        }
        self.members[index] = member
    }

    /// A 429: skip the upstream until `retry-after` has passed. Not a failure: it is alive, only busy.
    mutating func rateLimited(_ index: Int, for delay: TimeAmount, now: NIODeadline) {
        self.members[index].blockedUntil = now + delay
        self.members[index].probeInFlight = false
    }

    /// The attempt was abandoned without a verdict (the client went away): a probe may be tried again.
    mutating func abandoned(_ index: Int) {
        self.members[index].probeInFlight = false
    }

    func state(of index: Int, now: NIODeadline) -> State {
        let member = self.members[index]
        if let until = member.cooldownUntil {
            if until > now { return .coolingDown(remaining: until - now) }
            return member.probeInFlight ? .probing : .awaitingProbe
        }
        if let blocked = member.blockedUntil, blocked > now {
            return .rateLimited(remaining: blocked - now)
        }
        return .healthy
    }
}

/// The upstreams an attempt sequence already tried (an endpoint has at most 64: a bit each).
struct UpstreamSet: Equatable {
    private var bits: UInt64 = 0

    static let empty = UpstreamSet()

    func contains(_ index: Int) -> Bool {
        index < 64 && self.bits & (1 << UInt64(index)) != 0
    }

    mutating func insert(_ index: Int) {
        if index < 64 {
            self.bits |= 1 << UInt64(index)
        }
    }
}
