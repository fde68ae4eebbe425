import NIOHTTP1

/// What the exchange reads from the client's request headers, found in one pass over the block.
///
/// Each `HTTPHeaders` lookup walks the whole block comparing names; an exchange made nine of them (`Host`,
/// `Content-Length` and `Transfer-Encoding` twice, `Expect` twice, `Content-Type`, `X-Request-ID`), ~2,000
/// instructions per request in bench/profile.
struct RequestHeaderFacts {
    /// How many `Host` headers (HTTP/1.1 requires exactly one).
    private(set) var hostCount = 0
    /// The first `Content-Length` value.
    private(set) var contentLength: String?
    private(set) var hasTransferEncoding = false
    /// The first `Expect` value.
    private(set) var expect: String?
    /// The first `Content-Type` value.
    private(set) var contentType: String?
    /// The first `X-Request-ID` value.
    private(set) var requestID: String?

    init(_ headers: HTTPHeaders) {
        for (name, value) in headers {
            switch name.utf8.count {
            case 4 where Self.named(name, "host"):
                self.hostCount += 1
            case 6 where self.expect == nil && Self.named(name, "expect"):
                self.expect = value
            case 12 where self.contentType == nil && Self.named(name, "content-type"):
                self.contentType = value
            case 12 where self.requestID == nil && Self.named(name, "x-request-id"):
                self.requestID = value
            case 14 where self.contentLength == nil && Self.named(name, "content-length"):
                self.contentLength = value
            case 17 where Self.named(name, "transfer-encoding"):
                self.hasTransferEncoding = true
            default:
                break
            }
        }
    }

    /// `Expect: 100-continue` (any case).
    var expectsContinue: Bool { self.expect?.lowercased() == "100-continue" }

    /// The body length the head announces (RFC 9112 §6.3): `Content-Length`'s value, nil for a chunked body
    /// (unknown until it ends), 0 for neither. Digits beyond `Int.max` (2^63 - 1) count as `Int.max`, so that the
    /// size check refuses them rather than letting them through as "no length".
    var declaredBodyLength: Int? {
        guard let value = self.contentLength else {
            return self.hasTransferEncoding ? nil : 0
        }
        if let length = Int(value) {
            return length
        }
        return value.utf8.allSatisfy { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") } ? Int.max : 0
    }

    /// `lowercase` must be lower-case ASCII.
    private static func named(_ name: String, _ lowercase: StaticString) -> Bool {
        var name = name
        return name.withUTF8 { bytes in
            lowercase.withUTF8Buffer { HeaderPolicy.equalsIgnoringASCIICase(bytes, $0) }
        }
    }
}
