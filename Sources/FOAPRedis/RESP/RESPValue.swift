import NIOCore

/// One reply (or pushed message) as Redis sends it: every RESP3 type, of which RESP2 uses the first five.
///
/// Strings stay `ByteBuffer`s (slices of what was read, no copy) because Redis strings are binary; ``string`` and
/// ``integerValue`` read them as the text or numbers our scripts return.
public enum RESPValue: Sendable, Hashable {
    /// `+OK`: a short status line.
    case simpleString(ByteBuffer)
    /// `-ERR message`: a server error in one line.
    case simpleError(ByteBuffer)
    /// `:42`: a signed 64-bit integer.
    case integer(Int64)
    /// `$5\r\nhello`: a binary-safe string.
    case bulkString(ByteBuffer)
    /// `*2\r\n…`: an ordered list.
    case array([RESPValue])
    /// RESP3 `_`, RESP2 `$-1` and `*-1`: no value.
    case null
    /// RESP3 `,1.5` (also `inf`, `-inf`, `nan`).
    case double(Double)
    /// RESP3 `#t` / `#f`.
    case boolean(Bool)
    /// RESP3 `(123…`: an integer beyond 64 bits, kept as its decimal digits.
    case bigNumber(ByteBuffer)
    /// RESP3 `!21\r\nSYNTAX invalid syntax`: a server error that may span lines.
    case blobError(ByteBuffer)
    /// RESP3 `=15\r\ntxt:Some string`: a string with a three-letter format (`txt`, `mkd`).
    case verbatimString(format: String, ByteBuffer)
    /// RESP3 `%1\r\n…`: key-value pairs in the order the server sent them (keys may be any value).
    case map([RESPPair])
    /// RESP3 `~2\r\n…`: an unordered collection, kept in the order received.
    case set([RESPValue])
    /// RESP3 `>3\r\n…`: out-of-band data (invalidation, pub/sub), never the reply to a request.
    case push([RESPValue])

    /// The text of a string-like value (simple, bulk, verbatim), nil for anything else.
    public var string: String? {
        switch self {
        case .simpleString(let bytes), .bulkString(let bytes), .verbatimString(_, let bytes):
            return String(buffer: bytes)
        default:
            return nil
        }
    }

    /// An integer, or a string that holds one (scripts and RESP2 often return numbers as strings).
    public var integerValue: Int64? {
        switch self {
        case .integer(let value):
            return value
        case .simpleString, .bulkString:
            return self.string.flatMap { Int64($0) }
        default:
            return nil
        }
    }

    /// The elements of an array or set (a map's pairs are flattened key, value, key, value as RESP2 sends them).
    public var elements: [RESPValue]? {
        switch self {
        case .array(let values), .set(let values):
            return values
        case .map(let pairs):
            return pairs.flatMap { [$0.key, $0.value] }
        default:
            return nil
        }
    }

    /// The message of a simple or blob error, nil for any other value.
    public var errorMessage: String? {
        switch self {
        case .simpleError(let bytes), .blobError(let bytes):
            return String(buffer: bytes)
        default:
            return nil
        }
    }
}

/// One entry of a RESP3 map (a struct, not a tuple, so ``RESPValue`` stays `Hashable`).
public struct RESPPair: Sendable, Hashable {
    public var key: RESPValue
    public var value: RESPValue

    public init(key: RESPValue, value: RESPValue) {
        self.key = key
        self.value = value
    }
}
