import FOAPRedis
import NIOCore

/// Limits decided for a whole fleet by one Redis/Valkey (`FOAP_LIMITS_REDIS_URL`): absent, each host keeps its
/// own limits in its shared region, as before.
public struct FleetLimitsSettings: Sendable, Equatable {
    /// What a host does while Redis cannot answer (`FOAP_LIMITS_ON_BACKEND_ERROR`).
    public enum Fallback: String, Sendable, Equatable, CaseIterable {
        /// The host enforces its share (each limit ÷ the fleet size) from its own region: never unlimited.
        case local
        /// Fail open: requests pass unlimited until Redis answers again.
        case allow
        /// Fail closed: 503 `rate_limiter_unavailable` with `retry-after: 1`.
        case deny
    }

    public var url: RedisURL
    /// The most one admission waits for Redis before the fallback applies (`FOAP_LIMITS_REDIS_TIMEOUT_MS`).
    public var timeout: TimeAmount
    public var fallback: Fallback
    /// Hosts sharing the Redis (`FOAP_FLEET_SIZE`): the local fallback's divisor.
    public var fleetSize: Int
    /// This host's id in Redis (budgets remember what each host spent): the same for every worker of one master.
    /// Empty: the identity of the host's limits region, kept with it (see ``FOAPLimits/LimitsRegion/hostIdentity``).
    public var hostID: String
    /// Consecutive failures that open the circuit, and how long it then stays open (Redis is not asked at all).
    public var circuitFailures = 5
    public var circuitCoolDown: TimeAmount = .seconds(2)
    /// A concurrency lease lives this long unless renewed: a host that dies gives its slots back after it.
    public var leaseTTL: TimeAmount = .seconds(30)
    /// How long every worker of a host repeats a token-rate or budget refusal from Redis without asking again
    /// (reservations settling lower can free those early); a request-rate refusal holds until its own time.
    public var refusalTrust: TimeAmount = .seconds(1)

    public init(url: RedisURL, timeout: TimeAmount, fallback: Fallback, fleetSize: Int, hostID: String) {
        self.url = url
        self.timeout = timeout
        self.fallback = fallback
        self.fleetSize = max(1, fleetSize)
        self.hostID = hostID
    }

    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.url == rhs.url && lhs.timeout == rhs.timeout && lhs.fallback == rhs.fallback
            && lhs.fleetSize == rhs.fleetSize && lhs.hostID == rhs.hostID && lhs.circuitFailures == rhs.circuitFailures
            && lhs.circuitCoolDown == rhs.circuitCoolDown && lhs.leaseTTL == rhs.leaseTTL
            && lhs.refusalTrust == rhs.refusalTrust
    }
}
