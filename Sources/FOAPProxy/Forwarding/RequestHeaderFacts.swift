import FOAPHTTP1

/// What the exchange reads from the client's request fields, found in one pass over the block as it arrived.
///
/// Each `HTTPHeaders` lookup walks the whole block comparing names; an exchange made nine of them (`Host`,
/// `Content-Length` and `Transfer-Encoding` twice, `Expect` twice, `Content-Type`, `X-Request-ID`), ~2,000
/// instructions per request in bench/profile. Values become `String`s only when the exchange needs one.
struct RequestHeaderFacts {
    /// How many `Host` fields (HTTP/1.1 requires exactly one).
    private(set) var hostCount = 0
    /// The `Content-Length` value (the parser allows one, digits only); past `Int.max` (2^63 - 1) it counts as
    /// `Int.max`, so that the size check refuses it rather than letting it through as "no length".
    private(set) var contentLength: Int?
    private(set) var hasTransferEncoding = false
    /// `Expect: 100-continue` (any case).
    private(set) var expectsContinue = false
    /// The first `Content-Type` value when it may name a multipart body (it starts with `m` or `M`); nil for every
    /// other type, `application/json` above all, which needs no `String`.
    private(set) var multipartCandidateContentType: String?
    /// How many `Content-Type` fields (a request may carry one).
    private(set) var contentTypeCount = 0
    /// The first `X-Request-ID` value.
    private(set) var requestID: String?
    private var sawExpect = false

    init(_ fields: HTTPFieldBlock) {
        fields.forEach { name, value in
            switch name.count {
            case 4 where HTTPFieldBlock.equals(name, lowercase: "host"):
                self.hostCount += 1
            case 6 where !self.sawExpect && HTTPFieldBlock.equals(name, lowercase: "expect"):
                self.sawExpect = true
                self.expectsContinue = HTTPFieldBlock.equals(value, lowercase: "100-continue")
            case 12 where HTTPFieldBlock.equals(name, lowercase: "content-type"):
                self.contentTypeCount += 1
                if self.contentTypeCount == 1, let first = value.first, first | 0x20 == UInt8(ascii: "m") {
                    self.multipartCandidateContentType = String(decoding: value, as: UTF8.self)
                }
            case 12 where self.requestID == nil && HTTPFieldBlock.equals(name, lowercase: "x-request-id"):
                self.requestID = String(decoding: value, as: UTF8.self)
            case 14 where self.contentLength == nil && HTTPFieldBlock.equals(name, lowercase: "content-length"):
                self.contentLength = Self.length(value)
            case 17 where HTTPFieldBlock.equals(name, lowercase: "transfer-encoding"):
                self.hasTransferEncoding = true
            default:
                break
            }
        }
    }

    /// The body length the head announces (RFC 9112 §6.3): `Content-Length`'s value, nil for a chunked body
    /// (unknown until it ends), 0 for neither.
    var declaredBodyLength: Int? {
        self.contentLength ?? (self.hasTransferEncoding ? nil : 0)
    }

    /// Digits (the parser let no other byte through) as a length, `Int.max` past it; 0 for anything else.
    private static func length(_ digits: UnsafeRawBufferPointer) -> Int {
        var length = 0
        for byte in digits {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return 0 }
            let (times10, overflow1) = length.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times10.addingReportingOverflow(Int(byte - UInt8(ascii: "0")))
            guard !overflow1, !overflow2 else { return Int.max }
            length = sum
        }
        return length
    }
}
