import FOAPConfig

/// GCRA (the generic cell rate algorithm) for one rate: the whole state is one "theoretical arrival time" (TAT),
/// the instant the bucket would be full again, so a shared word and a CAS are enough for an exact limit.
///
/// Each unit (a request or a token) moves the TAT by `period / limit`; a take is allowed while the TAT stays at
/// most `burst` units' worth (the tolerance) ahead of now. It is a token bucket without a refill timer. Times are
/// wall-clock nanoseconds since the epoch. Increments round up and the tolerance rounds down, so rounding can only
/// make a limit stricter, never looser.
struct RateMath: Sendable, Equatable {
    let periodNanos: Int64
    let limit: Int64
    let burst: Int64

    init(_ rate: RateLimit) {
        self.periodNanos = rate.period.seconds * UTCCalendar.nanosPerSecond
        self.limit = Int64(rate.limit)
        self.burst = Int64(rate.burst)
    }

    /// Nanoseconds `units` move the TAT.
    func increment(_ units: Int) -> Int64 {
        Self.multiplyDivide(Int64(units), self.periodNanos, self.limit, roundingUp: true)
    }

    /// How far the TAT may run ahead of now: the time a full burst takes to refill.
    var tolerance: Int64 {
        Self.multiplyDivide(self.burst, self.periodNanos, self.limit, roundingUp: false)
    }

    /// Whether `checkUnits` fit at `now`, and the TAT after charging `chargeUnits`.
    ///
    /// `checkUnits` may exceed `chargeUnits`: a request reserving no tokens still needs one token left.
    func take(tat: Int64, now: Int64, checkUnits: Int, chargeUnits: Int) -> Outcome {
        let base = max(tat, now)
        let ahead = Self.add(base, self.increment(checkUnits)) - now
        guard ahead <= self.tolerance else {
            return .refused(retryAfterNanos: ahead - self.tolerance)
        }
        return .admitted(newTAT: Self.add(base, self.increment(chargeUnits)))
    }

    enum Outcome: Equatable {
        case admitted(newTAT: Int64)
        case refused(retryAfterNanos: Int64)
    }

    /// Units that could be taken at once at `now`.
    func remaining(tat: Int64, now: Int64) -> Int {
        let free = self.tolerance - max(0, tat - now)
        guard free > 0 else {
            return 0
        }
        return Int(min(self.burst, Self.multiplyDivide(free, self.limit, self.periodNanos, roundingUp: false)))
    }

    /// Units taken and not yet refilled at `now`.
    func used(tat: Int64, now: Int64) -> Int {
        Int(self.burst) - self.remaining(tat: tat, now: now)
    }

    /// Nanoseconds until the bucket is full again.
    func resetAfter(tat: Int64, now: Int64) -> Int64 {
        max(0, tat - now)
    }

    /// Far enough in the future to mean "never", with room left to add to it without overflow.
    static let saturation = Int64.max / 4

    /// `a * b / c` without overflowing in between, saturating at ``saturation``; all three non-negative, `c > 0`.
    static func multiplyDivide(_ a: Int64, _ b: Int64, _ c: Int64, roundingUp: Bool) -> Int64 {
        let (high, low) = UInt64(max(0, a)).multipliedFullWidth(by: UInt64(max(0, b)))
        guard high < UInt64(c) else {
            return Self.saturation
        }
        let (quotient, remainder) = UInt64(c).dividingFullWidth((high, low))
        let rounded = quotient + (roundingUp && remainder > 0 ? 1 : 0)
        return Int64(min(rounded, UInt64(Self.saturation)))
    }

    /// `a + b`, saturating instead of trapping.
    static func add(_ a: Int64, _ b: Int64) -> Int64 {
        let (sum, overflow) = a.addingReportingOverflow(b)
        return overflow ? (b > 0 ? Int64.max / 2 : Int64.min / 2) : sum
    }
}
