/// RFC 8259 string escaping: the one implementation behind the proxy's JSON bodies (`ByteBuffer`), the JSON log
/// records (`[UInt8]`) and `foap keys new` (`String`).
///
/// Swift `String`s are always valid Unicode, so only what RFC 8259 requires is escaped: quotation mark, reverse
/// solidus and the control characters U+0000–U+001F (`\b \f \n \r \t` by name, the rest as `\u00XX`). Bytes that
/// need nothing are handed on in runs, so the common string (a model name, an id) is one copy.
public enum JSONStringEscaping {
    /// Calls `emit` with the escaped body of `string` (without quotes), in order, as runs of bytes.
    ///
    /// The scan looks at eight bytes at a time while none of them needs escaping (the access line's values are
    /// ~250 bytes per request; byte by byte the scan cost ~13 instructions per byte in bench/profile).
    @inlinable
    public static func escape(_ string: String, _ emit: (UnsafeRawBufferPointer) -> Void) {
        // Every native string is contiguous: no copy of the string for `withUTF8`'s sake.
        let done: Void? = string.utf8.withContiguousStorageIfAvailable { utf8 in
            Self.escape(UnsafeRawBufferPointer(utf8), emit)
        }
        if done == nil {
            var string = string
            string.withUTF8 { Self.escape(UnsafeRawBufferPointer($0), emit) }
        }
    }

    /// `escape(_:_:)` of UTF-8 bytes.
    @inlinable
    public static func escape(_ bytes: UnsafeRawBufferPointer, _ emit: (UnsafeRawBufferPointer) -> Void) {
        var runStart = 0
        var index = 0
        while index < bytes.count {
            if bytes.count - index >= 8,
                !Self.anyNeedsEscape(bytes.loadUnaligned(fromByteOffset: index, as: UInt64.self))
            {
                index += 8
                continue
            }
            if Self.needsEscape(bytes[index]) {
                if index > runStart {
                    emit(UnsafeRawBufferPointer(rebasing: bytes[runStart..<index]))
                }
                Self.emitEscape(for: bytes[index], emit)
                runStart = index + 1
            }
            index += 1
        }
        if bytes.count > runStart {
            emit(UnsafeRawBufferPointer(rebasing: bytes[runStart...]))
        }
    }

    /// Whether `bytes` can be written between quotes as they are (nothing in them needs escaping): whole words,
    /// the last one overlapping its predecessor, so a short value is one or two word checks and no byte loop.
    @inlinable
    public static func needsNoEscaping(_ bytes: UnsafeRawBufferPointer) -> Bool {
        let count = bytes.count
        guard count >= 8 else {
            for byte in bytes where Self.needsEscape(byte) {
                return false
            }
            return true
        }
        var index = 0
        while index + 8 <= count {
            if Self.anyNeedsEscape(bytes.loadUnaligned(fromByteOffset: index, as: UInt64.self)) {
                return false
            }
            index += 8
        }
        return index == count || !Self.anyNeedsEscape(bytes.loadUnaligned(fromByteOffset: count - 8, as: UInt64.self))
    }

    @inlinable
    static func needsEscape(_ byte: UInt8) -> Bool {
        byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\")
    }

    /// Whether any of the eight bytes in `word` needs escaping: a byte below 0x20, a quotation mark or a reverse
    /// solidus. The usual bit tricks ("has a byte less than n", "has a zero byte" after an XOR) answer exactly
    /// whether one exists (not where), which is all the scan asks.
    @inlinable
    static func anyNeedsEscape(_ word: UInt64) -> Bool {
        Self.escapeMask(word) != 0
    }

    /// The high bit of each byte of `word` (read little-endian) that may need escaping. The lowest set bit is
    /// exact (a borrow only carries upward, from a byte that does need it), so `trailingZeroBitCount / 8` is the
    /// offset of the first such byte; bits above it can be false.
    @inlinable
    public static func escapeMask(_ word: UInt64) -> UInt64 {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highBits: UInt64 = 0x8080_8080_8080_8080
        let control = (word &- ones &* 0x20) & ~word & highBits
        let quotes = word ^ (ones &* UInt64(UInt8(ascii: "\"")))
        let quote = (quotes &- ones) & ~quotes & highBits
        let backslashes = word ^ (ones &* UInt64(UInt8(ascii: "\\")))
        let backslash = (backslashes &- ones) & ~backslashes & highBits
        return control | quote | backslash
    }

    @usableFromInline
    static func emitEscape(for byte: UInt8, _ emit: (UnsafeRawBufferPointer) -> Void) {
        let named: UInt8
        switch byte {
        case UInt8(ascii: "\""): named = UInt8(ascii: "\"")
        case UInt8(ascii: "\\"): named = UInt8(ascii: "\\")
        case 0x08: named = UInt8(ascii: "b")
        case 0x0C: named = UInt8(ascii: "f")
        case 0x0A: named = UInt8(ascii: "n")
        case 0x0D: named = UInt8(ascii: "r")
        case 0x09: named = UInt8(ascii: "t")
        default:
            let hex: StaticString = "0123456789abcdef"
            let digits = hex.withUTF8Buffer { ($0[Int(byte >> 4)], $0[Int(byte & 0x0F)]) }
            let sequence: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) = (
                UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"), digits.0, digits.1
            )
            withUnsafeBytes(of: sequence) { emit($0) }
            return
        }
        withUnsafeBytes(of: (UInt8(ascii: "\\"), named)) { emit($0) }
    }
}

extension Array where Element == UInt8 {
    /// Appends `string` as a quoted JSON string.
    @inlinable
    public mutating func appendJSONString(_ string: String) {
        self.append(UInt8(ascii: "\""))
        self.appendJSONStringBody(string)
        self.append(UInt8(ascii: "\""))
    }

    /// Appends the escaped body of a JSON string, without quotes.
    @inlinable
    public mutating func appendJSONStringBody(_ string: String) {
        JSONStringEscaping.escape(string) { self.append(contentsOf: $0) }
    }
}

extension String {
    /// `text` as a quoted JSON string literal, for hand-written JSON output.
    public static func jsonQuoted(_ text: String) -> String {
        var bytes: [UInt8] = []
        bytes.appendJSONString(text)
        return String(decoding: bytes, as: UTF8.self)
    }
}
