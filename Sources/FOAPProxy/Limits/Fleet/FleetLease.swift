import FOAPLimits
import FOAPRedis
import NIOCore

/// What a request admitted by Redis holds until its exchange finishes: the check (to settle it and give its
/// leases back), what Redis took, the headers' numbers, and the timer that keeps a long stream's leases alive.
final class FleetLease {
    let check: RedisAdmissionCheck
    let admission: RedisAdmission
    let requests: RateStatus?
    let tokens: RateStatus?
    var renewal: RepeatedTask?

    init(check: RedisAdmissionCheck, admission: RedisAdmission, requests: RateStatus?, tokens: RateStatus?) {
        self.check = check
        self.admission = admission
        self.requests = requests
        self.tokens = tokens
    }

    var holdsLeases: Bool {
        self.check.cells.contains { if case .concurrency = $0.limit { true } else { false } }
    }
}
