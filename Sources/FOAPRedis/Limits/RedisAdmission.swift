import NIOCore

/// One admission check: every limit a request counts against (its key's, its model pattern's, its group's).
public struct RedisAdmissionCheck: Sendable {
    /// The hash tag all keys share: the group's name when the key is in a group (the group's counters are shared),
    /// else the key's name.
    public var tag: String
    /// This host's id: budgets remember what each host spent, for ``RedisLimits/seed(tag:host:budgets:)``.
    public var host: String
    /// Unique per request: the lease it holds in every concurrency cell.
    public var leaseID: String
    public var estimatedTokens: Int
    /// The request's declared output; more than a token limit's size can never fit.
    public var declaredOutputTokens: Int?
    /// In any order; they are checked concurrency, request rates, token rates, budgets.
    public var cells: [RedisLimitCell]
    /// What this host knows it spent of some budget cells: Redis raises the host's part to it before deciding, so a
    /// budget whose data Redis lost (or whose key moved to another tag) is back at once, in the same round trip.
    public var shares: [RedisLimitCell: RedisBudgetShare]

    public init(
        tag: String,
        host: String,
        leaseID: String,
        estimatedTokens: Int,
        declaredOutputTokens: Int? = nil,
        cells: [RedisLimitCell],
        shares: [RedisLimitCell: RedisBudgetShare] = [:]
    ) {
        self.shares = shares
        self.tag = tag
        self.host = host
        self.leaseID = leaseID
        self.estimatedTokens = max(0, estimatedTokens)
        self.declaredOutputTokens = declaredOutputTokens
        self.cells = cells.enumerated().sorted { ($0.element.order, $0.offset) < ($1.element.order, $1.offset) }
            .map(\.element)
    }
}

/// One host's own spend of a budget in one period (as Redis numbers periods: ``RedisAdmission/CellState/periodNumber``).
public struct RedisBudgetShare: Sendable, Equatable {
    public var periodNumber: Int64
    public var tokens: Int

    public init(periodNumber: Int64, tokens: Int) {
        self.periodNumber = periodNumber
        self.tokens = tokens
    }
}

/// The outcome of ``RedisLimits/admit(_:on:)``.
public enum RedisAdmissionResult: Sendable, Equatable {
    case admitted(RedisAdmission)
    case refused(RedisRefusal)
}

/// An admitted check: what it took from each cell (in the check's order), to settle later and for headers.
public struct RedisAdmission: Sendable, Equatable {
    /// Redis's clock at admission, microseconds since the epoch.
    public let nowMicros: Int64
    public let cells: [CellState]

    public struct CellState: Sendable, Equatable {
        public let cell: RedisLimitCell
        /// Requests (1) or tokens reserved.
        public let units: Int
        /// What may still be taken at once (a rate), or this period (a budget), or slots left (concurrency).
        public let remaining: Int
        /// Until the rate is full again, the budget resets, or the lease expires.
        public let resetAfter: TimeAmount
        /// A budget's period number (settlement needs it: a refund after the period ended is void); else 0.
        public let periodNumber: Int64
    }
}

/// Why a check was refused; nothing was taken from any cell.
public struct RedisRefusal: Sendable, Equatable {
    public let cell: RedisLimitCell
    /// Units in the bucket, tokens this period, or leases held.
    public let used: Int
    public let requested: Int
    /// Nil when it never fits; one second (a guess) for concurrency.
    public let retryAfter: TimeAmount?
    /// Unix seconds of a budget's reset.
    public let resetsAt: Int64?
    public let neverFits: Bool
}

/// A reply the library should never give: a version mismatch or a bug, reported with the reply.
public struct RedisLimitsReplyError: Error, Sendable, CustomStringConvertible {
    public let function: String
    public let reply: RESPValue

    public var description: String {
        "\(self.function) returned an unexpected reply: \(self.reply)"
    }
}
