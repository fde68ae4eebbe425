import Atomics

/// Concurrency slots: one in-flight count per scope that admission checks and bumps with a CAS, plus the same
/// count split by holder (the worker that took it), so the master can give back what a crashed worker held.
///
/// Order, so a crash between two steps can only ever leak a slot (stricter), never invent one: acquire bumps the
/// total before the holder's lane; release lowers the lane before the total.
extension LimitsRegion {
    /// Takes one slot of `slot`'s in-flight count if fewer than `limit` are taken.
    ///
    /// - Returns: nil on success, or the count that was found at the limit.
    func acquireInFlight(slot: Int, limit: Int, holder: Int) -> Int? {
        let total = self.slotWord(slot, RegionLayout.Slot.inFlight)
        var current = total.load(ordering: .relaxed)
        while true {
            guard current < UInt64(limit) else {
                return Int(current)
            }
            let (exchanged, found) = total.weakCompareExchange(
                expected: current,
                desired: current + 1,
                ordering: .acquiringAndReleasing
            )
            if exchanged {
                break
            }
            current = found
        }
        let (word, shift) = Self.lane(of: holder)
        self.slotWord(slot, word).wrappingIncrement(by: 1 << shift, ordering: .relaxed)
        return nil
    }

    /// Gives back one slot `holder` took with ``acquireInFlight(slot:limit:holder:)``.
    /// A lane already at zero means the master reclaimed it (it took this holder for dead): nothing is left to give.
    func releaseInFlight(slot: Int, holder: Int) {
        let (word, shift) = Self.lane(of: holder)
        let lanes = self.slotWord(slot, word)
        var current = lanes.load(ordering: .relaxed)
        while true {
            guard current >> shift & 0xFFFF > 0 else {
                return
            }
            let (exchanged, found) = lanes.weakCompareExchange(
                expected: current,
                desired: current - (1 << shift),
                ordering: .acquiringAndReleasing
            )
            if exchanged {
                break
            }
            current = found
        }
        self.subtractInFlight(slot: slot, 1)
    }

    /// Requests in flight now in `slot`.
    func inFlight(slot: Int) -> Int {
        Int(self.slotWord(slot, RegionLayout.Slot.inFlight).load(ordering: .relaxed))
    }

    /// Master side: gives back every slot `holder` still holds, after its process exited. The holder id may only be
    /// given to a new worker after this returns.
    ///
    /// - Returns: how many in-flight requests were given back, over all scopes.
    @discardableResult
    public func reclaim(holder: Int) -> Int {
        precondition((0..<Self.maximumHolders).contains(holder), "holder ids are 0..<\(Self.maximumHolders)")
        let (word, shift) = Self.lane(of: holder)
        var reclaimed = 0
        for slot in 0..<self.capacity where self.slotWord(slot, RegionLayout.Slot.hash).load(ordering: .relaxed) != 0 {
            let lanes = self.slotWord(slot, word)
            var current = lanes.load(ordering: .relaxed)
            while true {
                let held = current >> shift & 0xFFFF
                guard held > 0 else {
                    break
                }
                let (exchanged, found) = lanes.weakCompareExchange(
                    expected: current,
                    desired: current & ~(0xFFFF << shift),
                    ordering: .acquiringAndReleasing
                )
                if exchanged {
                    self.subtractInFlight(slot: slot, held)
                    reclaimed += Int(held)
                    break
                }
                current = found
            }
        }
        return reclaimed
    }

    /// Zeroes every in-flight count: at master start, no process can hold a slot.
    func zeroInFlight() {
        for slot in 0..<self.capacity {
            self.slotWord(slot, RegionLayout.Slot.inFlight).store(0, ordering: .relaxed)
            for word in 0..<RegionLayout.Slot.holderWords {
                self.slotWord(slot, RegionLayout.Slot.holders + word).store(0, ordering: .relaxed)
            }
        }
    }

    /// Lowers the total by `amount`, never below 0 (a leaked-then-reclaimed slot must not wrap the count).
    private func subtractInFlight(slot: Int, _ amount: UInt64) {
        let total = self.slotWord(slot, RegionLayout.Slot.inFlight)
        var current = total.load(ordering: .relaxed)
        while true {
            let (exchanged, found) = total.weakCompareExchange(
                expected: current,
                desired: current - min(current, amount),
                ordering: .acquiringAndReleasing
            )
            if exchanged {
                return
            }
            current = found
        }
    }

    /// The word offset and bit shift of `holder`'s 16-bit lane.
    private static func lane(of holder: Int) -> (word: Int, shift: UInt64) {
        (RegionLayout.Slot.holders + holder / 4, UInt64(holder % 4 * 16))
    }
}
