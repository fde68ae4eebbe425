/// The field names a proxy acts on, recognised once, when a head is parsed.
///
/// Every received field used to be compared by its bytes again by each reader of the head: the framing rules, the
/// names that must not cross (`HTTPFieldNameSet`), the writer's framing facts, the exchange's own lookups — four walks
/// comparing names (~1,800 instructions per request in bench/profile). The parser compares each name once and keeps
/// the answer with the field's position, so the later readers compare one byte.
public enum HTTPKnownFieldName: UInt8, Sendable, CaseIterable {
    /// Any name not listed below.
    case other = 0
    // Framing and the connection (RFC 9112 §6, §9).
    case contentLength, transferEncoding, connection, upgrade
    // The rest of the hop-by-hop fields (RFC 9110 §7.6.1).
    case keepAlive, proxyConnection, proxyAuthenticate, proxyAuthorization, te, trailer
    // Set by the proxy itself, or credentials that never cross.
    case host, expect, authorization, apiKey, xAPIKey
    // Read by the proxy from a request or a response.
    case contentType, xRequestID

    /// The name as the parser compares it (lower-case).
    public var lowercased: StaticString {
        switch self {
        case .other: return ""
        case .contentLength: return "content-length"
        case .transferEncoding: return "transfer-encoding"
        case .connection: return "connection"
        case .upgrade: return "upgrade"
        case .keepAlive: return "keep-alive"
        case .proxyConnection: return "proxy-connection"
        case .proxyAuthenticate: return "proxy-authenticate"
        case .proxyAuthorization: return "proxy-authorization"
        case .te: return "te"
        case .trailer: return "trailer"
        case .host: return "host"
        case .expect: return "expect"
        case .authorization: return "authorization"
        case .apiKey: return "api-key"
        case .xAPIKey: return "x-api-key"
        case .contentType: return "content-type"
        case .xRequestID: return "x-request-id"
        }
    }

    /// The known name `name` is (any case), or `.other`.
    ///
    /// By length first: most names a proxy sees have a length no known name has, or differ in their first byte.
    public init(_ name: UnsafeRawBufferPointer) {
        switch name.count {
        case 2: self = Self.match(name, .te)
        case 4: self = Self.match(name, .host)
        case 6: self = Self.match(name, .expect)
        case 7:
            switch name[0] | 0x20 {
            case UInt8(ascii: "u"): self = Self.match(name, .upgrade)
            case UInt8(ascii: "t"): self = Self.match(name, .trailer)
            case UInt8(ascii: "a"): self = Self.match(name, .apiKey)
            default: self = .other
            }
        case 9: self = Self.match(name, .xAPIKey)
        case 10:
            switch name[0] | 0x20 {
            case UInt8(ascii: "c"): self = Self.match(name, .connection)
            case UInt8(ascii: "k"): self = Self.match(name, .keepAlive)
            default: self = .other
            }
        case 12:
            switch name[0] | 0x20 {
            case UInt8(ascii: "c"): self = Self.match(name, .contentType)
            case UInt8(ascii: "x"): self = Self.match(name, .xRequestID)
            default: self = .other
            }
        case 13: self = Self.match(name, .authorization)
        case 14: self = Self.match(name, .contentLength)
        case 16: self = Self.match(name, .proxyConnection)
        case 17: self = Self.match(name, .transferEncoding)
        case 18: self = Self.match(name, .proxyAuthenticate)
        case 19: self = Self.match(name, .proxyAuthorization)
        default: self = .other
        }
    }

    /// The known name `name` is (any case), or `.other`.
    public init(_ name: String) {
        var name = name
        self = name.withUTF8 { Self(UnsafeRawBufferPointer($0)) }
    }

    /// `candidate` when `name` (of the candidate's length) is its name in any case.
    ///
    /// A word at a time: a word of the name, its letters lowered (bit 0x20 set where the candidate has a letter,
    /// found by bit 0x40, which `-` lacks), equals the candidate's word. Letters alone are lowered, so that no other
    /// byte passes for a `-` (CR would, lowered as the parser's tokens are). Names of 8 bytes or more are covered by
    /// words at the start, at 8, and ending at the end (overlapping), shorter ones by half or quarter words.
    private static func match(_ name: UnsafeRawBufferPointer, _ candidate: Self) -> Self {
        let expected = UnsafeRawPointer(candidate.lowercased.utf8Start)
        let bytes = name.baseAddress!
        let count = name.count
        if count >= 8 {
            guard Self.equal(UInt64.self, bytes, expected, at: 0), Self.equal(UInt64.self, bytes, expected, at: count - 8),
                count <= 16 || Self.equal(UInt64.self, bytes, expected, at: 8)
            else { return .other }
        } else if count >= 4 {
            guard Self.equal(UInt32.self, bytes, expected, at: 0), Self.equal(UInt32.self, bytes, expected, at: count - 4)
            else { return .other }
        } else {
            guard Self.equal(UInt16.self, bytes, expected, at: 0) else { return .other }  // `te`, the one shorter name
        }
        return candidate
    }

    @inline(__always)
    private static func equal<Word: FixedWidthInteger & UnsignedInteger>(
        _: Word.Type, _ name: UnsafeRawPointer, _ expected: UnsafeRawPointer, at offset: Int
    ) -> Bool {
        let wanted = expected.loadUnaligned(fromByteOffset: offset, as: Word.self)
        let letters = (wanted & (Word.max / 0xFF &* 0x40)) >> 1
        return name.loadUnaligned(fromByteOffset: offset, as: Word.self) | letters == wanted
    }

    /// This name's bit in a `HTTPKnownFieldNames` set.
    @inlinable
    var bit: UInt32 { 1 << UInt32(self.rawValue) }
}

/// A set of known field names, one bit each.
public struct HTTPKnownFieldNames: Sendable, Equatable {
    @usableFromInline var bits: UInt32

    public init(_ names: some Sequence<HTTPKnownFieldName>) {
        self.bits = names.reduce(0) { $0 | $1.bit }
    }

    @inlinable
    public func contains(_ name: HTTPKnownFieldName) -> Bool {
        self.bits & name.bit != 0
    }
}
