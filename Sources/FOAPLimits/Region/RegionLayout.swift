/// Where every word of the shared region lives. All words are 64-bit and only ever touched atomically, so any
/// number of processes may map the region at once with no lock.
///
/// ```
/// header (64 words): magic, version, capacity, slot words, holders, header words, layout check, created at,
///   host identity (random, kept with the region: names this host in Redis; 0 in regions older than it)
/// slot 0 … slot capacity-1 (88 words each):
///   0      scope hash (0: empty; claimed by CAS, never freed)
///   1      name meta: kind | length << 8 (0 until the name is written)
///   2…9    name bytes (the first 64 UTF-8 bytes, for display)
///   10…15  GCRA theoretical arrival times (ns since the epoch): requests s/m/h, tokens s/m/h
///   16…18  budgets day/week/month: period number << 44 | tokens used
///   19     requests in flight
///   24…87  per-holder in-flight counts, four 16-bit lanes per word (256 holders)
/// a fleet slot (a scope's companion when Redis decides, see `FleetScopeState`), only in words the master never
/// zeroes or reclaims:
///   10…15  refusals from Redis per rate, as above: refused until (ms) << 22 | headroom
///   16…18  refusals from Redis per budget day/week/month, the same
///   20…22  this host's own spend of each budget through Redis: period number << 44 | tokens
/// ```
enum RegionLayout {
    static let magic: UInt64 = 0x464F_4150_4C49_4D54  // "FOAPLIMT"
    /// Bump on any change below: a region with another version is reset, never misread.
    static let version: UInt64 = 1
    static let headerWords = 64
    static let slotWords = 88
    static let holderCount = 256

    enum Header {
        static let magic = 0
        static let version = 1
        static let capacity = 2
        static let slotWords = 3
        static let holders = 4
        static let headerWords = 5
        static let layoutCheck = 6
        static let createdAt = 7
        static let hostIdentity = 8
    }

    enum Slot {
        static let hash = 0
        static let nameMeta = 1
        static let name = 2
        static let nameWords = 8
        static let rates = 10
        static let budgets = 16
        static let inFlight = 19
        static let holders = 24
        static let holderWords = 64
    }

    /// A fleet slot's words (see the table above): the same places as the scope's own counters where they mirror
    /// them, so a limit's index works for both.
    enum FleetSlot {
        static let denials = 10
        static let contributions = 20
        /// The kind byte of a fleet slot: the scope's kind with the high bit set, so it never meets the scope's own.
        static let kindBit: UInt8 = 0x80
    }

    /// The name bytes kept per scope; longer names are cut (the hash still covers the whole name).
    static var nameCapacity: Int { Slot.nameWords * 8 }

    /// Bits of a budget word that count tokens; the rest is the period number.
    static let budgetTokenBits: UInt64 = 44

    static func byteCount(capacity: Int) -> Int {
        (headerWords + capacity * slotWords) * 8
    }

    /// A check over the numbers that decide the layout, so a header with the right magic but a torn or foreign
    /// layout is still caught.
    static func layoutCheck(capacity: UInt64) -> UInt64 {
        var hash = FNV1a()
        for value in [version, capacity, UInt64(slotWords), UInt64(holderCount), UInt64(headerWords)] {
            hash.add(value)
        }
        return hash.value
    }

    /// The index of a rate's word among the six.
    static func rateIndex(metricIsTokens: Bool, periodIndex: Int) -> Int {
        (metricIsTokens ? 3 : 0) + periodIndex
    }
}

/// 64-bit FNV-1a: the same in every process (Swift's `Hasher` is seeded per process, so it cannot name a slot).
struct FNV1a {
    private(set) var value: UInt64 = 0xcbf2_9ce4_8422_2325

    mutating func add(_ byte: UInt8) {
        self.value = (self.value ^ UInt64(byte)) &* 0x0000_0100_0000_01B3
    }

    mutating func add(_ word: UInt64) {
        for shift in stride(from: 0, to: 64, by: 8) {
            self.add(UInt8(truncatingIfNeeded: word >> UInt64(shift)))
        }
    }

    mutating func add(_ bytes: some Sequence<UInt8>) {
        for byte in bytes {
            self.add(byte)
        }
    }
}
