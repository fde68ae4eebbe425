import Atomics
import FOAPConfig

/// What an admitted request holds: its concurrency slots and its token reservations.
///
/// Release it when the answer is done (or the client went away) and settle it once with the real token count.
/// Both are idempotent per ticket, and a ticket dropped without a release gives its slots back when it is freed,
/// so no exit path can leak a concurrency slot for good.
public final class AdmissionTicket: Sendable {
    /// One token reservation to settle.
    struct Reservation: Sendable {
        enum Place: Sendable {
            case rate(word: Int, math: RateMath)
            case budget(word: Int, period: BudgetPeriod, number: Int64)
        }

        let slot: Int
        let place: Place
        let units: Int
    }

    let taker: CellTaker?
    let concurrencySlots: [Int]
    let reservations: [Reservation]
    /// `settledFlag` and `releasedFlag`, in one atomic (one allocation per admission, not two).
    private let flags = ManagedAtomic<UInt8>(0)
    private static let settledFlag: UInt8 = 1
    private static let releasedFlag: UInt8 = 2

    init(taker: CellTaker?, concurrencySlots: [Int], reservations: [Reservation]) {
        self.taker = taker
        self.concurrencySlots = concurrencySlots
        self.reservations = reservations
    }

    /// A ticket for a key without limits: settling and releasing it do nothing.
    static func unlimited() -> AdmissionTicket {
        AdmissionTicket(taker: nil, concurrencySlots: [], reservations: [])
    }

    public var isSettled: Bool {
        self.flags.load(ordering: .acquiring) & Self.settledFlag != 0
    }

    public var isReleased: Bool {
        self.flags.load(ordering: .acquiring) & Self.releasedFlag != 0
    }

    /// Tokens reserved against the tightest-fitting limit (what an estimate cost), for logs and tests.
    public var reservedTokens: [Int] {
        self.reservations.map(\.units)
    }

    /// Gives the concurrency slots back; only the first call does anything.
    ///
    /// - Returns: whether this call released them.
    @discardableResult
    public func release() -> Bool {
        guard self.claim(Self.releasedFlag) else {
            return false
        }
        if let taker = self.taker {
            for slot in self.concurrencySlots {
                taker.region.releaseInFlight(slot: slot, holder: taker.holder)
            }
        }
        return true
    }

    /// Replaces every reservation by `actualTokens` (nil: the upstream never answered, refund it all); only the
    /// first call does anything.
    @discardableResult
    public func settle(actualTokens: Int?, now: Int64) -> Bool {
        guard self.claim(Self.settledFlag) else {
            return false
        }
        guard let taker = self.taker else {
            return true
        }
        let actual = max(0, actualTokens ?? 0)
        for reservation in self.reservations {
            switch reservation.place {
            case .rate(let word, let math):
                let delta = math.increment(actual) - math.increment(reservation.units)
                taker.adjustRate(slot: reservation.slot, word: word, by: delta, now: now)
            case .budget(let word, let period, let number):
                taker.adjustBudget(
                    slot: reservation.slot, word: word, reservedIn: number, by: Int64(actual - reservation.units),
                    now: UTCCalendar.periodNumber(period, at: now)
                )
            }
        }
        return true
    }

    /// Sets `flag`; true for the one call that set it.
    private func claim(_ flag: UInt8) -> Bool {
        self.flags.loadThenBitwiseOr(with: flag, ordering: .acquiringAndReleasing) & flag == 0
    }

    deinit {
        self.release()
    }
}
