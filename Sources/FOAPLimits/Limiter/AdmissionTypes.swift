import FOAPConfig

/// One client request as admission sees it. The proxy fills it in before forwarding.
public struct AdmissionRequest: Sendable, Equatable {
    /// The client key's name (usage is counted by name, so a rotated secret keeps its usage).
    public var key: String
    /// The model id as the client asked for it (matched against the key's `limits.models` patterns).
    public var model: String
    /// Tokens to reserve now (prompt estimate + the output the request may produce); settled after the answer.
    public var estimatedTokens: Int
    /// The output the request declares (`max_tokens` and friends), if any: when it alone exceeds a token limit,
    /// the request can never fit and is refused as such.
    public var declaredOutputTokens: Int?

    public init(key: String, model: String, estimatedTokens: Int, declaredOutputTokens: Int? = nil) {
        self.key = key
        self.model = model
        self.estimatedTokens = max(0, estimatedTokens)
        self.declaredOutputTokens = declaredOutputTokens
    }
}

/// What a limit counts, for error messages and response headers.
public enum LimitKind: String, Sendable, Equatable {
    /// A request rate (RPS/RPM/RPH).
    case requests
    /// A token rate (TPS/TPM/TPH).
    case tokens
    /// Requests in flight at once.
    case concurrency
    /// A calendar token budget (day/week/month, UTC).
    case budget
}

/// The outcome of ``RateLimiter/admit(_:now:)``.
public enum AdmissionDecision: Sendable {
    case admitted(Admission)
    case refused(Refusal)
}

/// An admitted request: settle and release its ticket when the answer is done.
public struct Admission: Sendable {
    public let ticket: AdmissionTicket
    /// The tightest request rate after this request (fewest remaining), for `x-ratelimit-*-requests`.
    public let requests: RateStatus?
    /// The tightest token rate after this request's reservation, for `x-ratelimit-*-tokens`.
    public let tokens: RateStatus?
}

/// One rate's state, in the terms of OpenAI's `x-ratelimit-*` headers.
public struct RateStatus: Sendable, Equatable {
    /// The rate itself; its `label` is built only when asked (string interpolation per request cost more than the
    /// rest of admission).
    public let rate: RateLimit
    public var label: String { self.rate.label }
    public let scope: LimitScope
    public let limit: Int
    public let remaining: Int
    /// Nanoseconds until the bucket is full again: plain integers on the hot path (`Duration` arithmetic is
    /// 128-bit, and two of them per request were measurable).
    public let resetAfterNanoseconds: Int64
    /// Until the bucket is full again.
    public var resetAfter: Duration { .nanoseconds(self.resetAfterNanoseconds) }

    /// Public for limiters that decide elsewhere (Redis for a fleet) but answer with the same headers.
    public init(rate: RateLimit, scope: LimitScope, limit: Int, remaining: Int, resetAfterNanoseconds: Int64) {
        self.rate = rate
        self.scope = scope
        self.limit = limit
        self.remaining = remaining
        self.resetAfterNanoseconds = resetAfterNanoseconds
    }
}

/// Why a request was refused; nothing was taken from any limit.
public struct Refusal: Sendable, Equatable {
    public let kind: LimitKind
    /// `requests per min (RPM)`, `tokens per day`, `concurrent requests`.
    public let label: String
    public let scope: LimitScope
    public let limit: Int
    /// What the scope has used: units in the bucket, tokens this period, requests in flight.
    public let used: Int
    /// What this request needed from the limit.
    public let requested: Int
    /// When to try again; nil when it never fits. A guess (one second) for concurrency.
    public let retryAfter: Duration?
    /// Unix seconds of the budget's reset (the next UTC day, Monday or 1st); nil for other kinds.
    public let resetsAt: Int64?
    /// The request's declared output alone exceeds this limit: waiting will never help.
    public let neverFits: Bool

    /// Public for limiters that decide elsewhere (Redis for a fleet) but answer with the same 429.
    public init(
        kind: LimitKind, label: String, scope: LimitScope, limit: Int, used: Int, requested: Int,
        retryAfter: Duration?, resetsAt: Int64?, neverFits: Bool
    ) {
        self.kind = kind
        self.label = label
        self.scope = scope
        self.limit = limit
        self.used = used
        self.requested = requested
        self.retryAfter = retryAfter
        self.resetsAt = resetsAt
        self.neverFits = neverFits
    }
}
