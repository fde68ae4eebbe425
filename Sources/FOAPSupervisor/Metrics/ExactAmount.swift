/// A sample value as whole units and billionths, so that adding values up gives the same result in any order.
///
/// Histogram `_sum`s are fractions of seconds. Added as doubles, `retired + live` depended on the order of the
/// additions, and folding an exited worker into the retired totals changes that order: a `_sum` could drop by a
/// rounding step, which Prometheus takes for a counter reset. Integers add up exactly. Billionths keep every digit a
/// worker measures (durations are whole nanoseconds); the separate whole part keeps byte and request counters exact
/// far past the 9.2e9 that nanoseconds alone would fit in 64 bits.
struct ExactAmount: Equatable {
    static let billion: Int64 = 1_000_000_000

    /// The floor of the value (also for negative gauges).
    private(set) var whole: Int64 = 0
    /// The rest, `0 ..< billion`.
    private(set) var billionths: Int64 = 0

    init() {}

    /// The nearest billionth of `value`. Monotonic: a larger double never gives a smaller amount, so a counter that
    /// a worker reports as growing grows here too. - Returns: nil for NaN, infinities and values beyond 64 bits.
    init?(_ value: Double) {
        guard value.isFinite, value.magnitude < 9.2e18 else {
            return nil
        }
        let floor = value.rounded(.down)
        // Exact for the non-negative values counters have: `value - floor` is a difference of nearby doubles.
        let billionths = Int64(((value - floor) * Double(Self.billion)).rounded())
        self.whole = Int64(floor)
        self.add(whole: 0, billionths: billionths)
    }

    /// The amount as a double, for the text format: exact for whole numbers below 2^53.
    var value: Double {
        Double(self.whole) + Double(self.billionths) / Double(Self.billion)
    }

    static func += (amount: inout ExactAmount, other: ExactAmount) {
        amount.add(whole: other.whole, billionths: other.billionths)
    }

    /// Saturates instead of trapping: a sum beyond 64 bits is nonsense, but must not bring the master down.
    private mutating func add(whole: Int64, billionths: Int64) {
        var sum = self.billionths + billionths
        var carry: Int64 = 0
        if sum >= Self.billion {
            sum -= Self.billion
            carry = 1
        }
        let (added, overflow) = self.whole.addingReportingOverflow(whole)
        let (total, carried) = added.addingReportingOverflow(carry)
        if overflow || carried {
            self.whole = whole < 0 ? .min : .max
            self.billionths = 0
            return
        }
        self.whole = total
        self.billionths = sum
    }
}
