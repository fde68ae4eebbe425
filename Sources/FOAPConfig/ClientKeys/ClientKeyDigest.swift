/// The SHA-256 of a client API key: what the key file stores and what a worker compares against.
///
/// The key file never holds a plain key, so a leaked file (or snapshot) grants nothing. A worker hashes the key a
/// request presents once and looks the digest up in a dictionary of the configured ones.
///
/// Why a dictionary lookup is safe against timing attacks: `==` is constant-time (it ORs the XOR of all four
/// words, no early exit), and `hash(into:)` feeds Swift's per-process randomly seeded SipHash, so neither the
/// bucket chosen nor the comparison reveals how close a guess came. Even a leak would only tell an attacker
/// something about the SHA-256 of their own guess, never about a key: SHA-256 is preimage resistant and the keys
/// are 256 random bits.
public struct ClientKeyDigest: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The 32 digest bytes as four big-endian words: cheap to hash and to compare without branching.
    private let words: (UInt64, UInt64, UInt64, UInt64)

    private init(words: (UInt64, UInt64, UInt64, UInt64)) {
        self.words = words
    }

    /// Hashes `key` (the UTF-8 bytes of the key as the client sends it).
    public init(hashing key: some Sequence<UInt8>) {
        var hash = SHA256()
        hash.update(key)
        let state = hash.finalizeWords()
        self.init(
            words: (
                UInt64(state[0]) << 32 | UInt64(state[1]), UInt64(state[2]) << 32 | UInt64(state[3]),
                UInt64(state[4]) << 32 | UInt64(state[5]), UInt64(state[6]) << 32 | UInt64(state[7])
            )
        )
    }

    /// Parses 64 hex digits (either case), as written in the key file.
    ///
    /// - Returns: nil when `hex` is not exactly 64 hex digits.
    public init?(hex: String) {
        let bytes = Array(hex.utf8)
        guard bytes.count == 64 else {
            return nil
        }
        var words: [UInt64] = [0, 0, 0, 0]
        for (offset, byte) in bytes.enumerated() {
            guard let nibble = Self.nibble(byte) else {
                return nil
            }
            words[offset / 16] = words[offset / 16] << 4 | UInt64(nibble)
        }
        self.init(words: (words[0], words[1], words[2], words[3]))
    }

    /// 64 lowercase hex digits, the form `foap keys new` prints.
    public var hex: String {
        [self.words.0, self.words.1, self.words.2, self.words.3].map { word in
            let digits = String(word, radix: 16)
            return String(repeating: "0", count: 16 - digits.count) + digits
        }.joined()
    }

    public var description: String {
        self.hex
    }

    /// Constant-time: every word is compared, whatever the first difference.
    public static func == (lhs: ClientKeyDigest, rhs: ClientKeyDigest) -> Bool {
        let difference =
            (lhs.words.0 ^ rhs.words.0) | (lhs.words.1 ^ rhs.words.1) | (lhs.words.2 ^ rhs.words.2)
            | (lhs.words.3 ^ rhs.words.3)
        return difference == 0
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(self.words.0)
        hasher.combine(self.words.1)
        hasher.combine(self.words.2)
        hasher.combine(self.words.3)
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let digest = ClientKeyDigest(hex: text) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "not a SHA-256 hex digest")
        }
        self = digest
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(self.hex)
    }

    private static func nibble(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}
