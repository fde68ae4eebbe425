import FOAPLimits
import FOAPRedis
import NIOCore

/// What Redis granted one request: the check (to settle it and give its leases back), what Redis took, the plan's
/// cells it was decided on (for this host's own record of its budget spend), and the headers' numbers.
struct FleetGrant: Sendable {
    let check: RedisAdmissionCheck
    let admission: RedisAdmission
    let cells: [FleetCell]
    let requests: RateStatus?
    let tokens: RateStatus?

    var holdsLeases: Bool {
        self.check.cells.contains { if case .concurrency = $0.limit { true } else { false } }
    }
}

/// A grant held by an exchange until it finishes, with the timer that keeps a long stream's leases alive.
final class FleetLease {
    let grant: FleetGrant
    var renewal: RepeatedTask?

    init(grant: FleetGrant) {
        self.grant = grant
    }
}
