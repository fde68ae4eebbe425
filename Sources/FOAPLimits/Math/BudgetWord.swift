/// One budget's state in one 64-bit word: the period number and the tokens used in it. Packing both means a
/// period rollover is the same single CAS as any charge: the first charge of a new period writes the new number
/// with its own tokens, and nobody ever has to "reset" the counter.
struct BudgetWord: Equatable {
    static let tokenBits = RegionLayout.budgetTokenBits
    static let maximumTokens: UInt64 = (1 << tokenBits) - 1

    var period: Int64
    var used: UInt64

    init(period: Int64, used: UInt64) {
        self.period = period
        self.used = min(used, Self.maximumTokens)
    }

    init(raw: UInt64) {
        self.period = Int64(raw >> Self.tokenBits)
        self.used = raw & Self.maximumTokens
    }

    var raw: UInt64 {
        UInt64(truncatingIfNeeded: self.period) << Self.tokenBits | self.used
    }

    /// Tokens used in `period`: a word from an older period counts as nothing used.
    func used(in period: Int64) -> UInt64 {
        self.period == period ? self.used : 0
    }
}
