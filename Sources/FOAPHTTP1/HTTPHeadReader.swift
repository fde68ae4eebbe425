import NIOCore
import NIOHTTP1

/// Reads one whole request or response head (or a trailer block) out of the bytes that hold it, through its blank
/// line: the request or status line, then each field line, validated as RFC 9112 and RFC 9110 write them, with the facts that
/// decide the body's framing collected in the same pass.
struct HTTPHeadReader {
    private let bytes: UnsafeRawBufferPointer
    private let limits: HTTPParserLimits
    private var index = 0

    init(bytes: UnsafeRawBufferPointer, limits: HTTPParserLimits) {
        self.bytes = bytes
        self.limits = limits
    }

    /// The request line and the fields, as positions in the bytes (`HTTPFieldBlock`).
    mutating func readRequest() throws(HTTPParserError) -> (
        method: HTTPMethod, uri: String, version: HTTPVersion, fields: [HTTPFieldBlock.Field], facts: FramingFacts
    ) {
        let line = try self.nextLine()
        let (method, uri, version) = try Self.requestLine(UnsafeRawBufferPointer(rebasing: self.bytes[line]))
        let (fields, facts) = try self.readFieldPositions()
        return (method, uri, version, fields, facts)
    }

    /// The status line and the fields, as positions in the bytes (`HTTPFieldBlock`).
    mutating func readResponse() throws(HTTPParserError) -> (
        version: HTTPVersion, status: HTTPResponseStatus, fields: [HTTPFieldBlock.Field], facts: FramingFacts
    ) {
        let line = try self.nextLine()
        let (version, status) = try Self.statusLine(UnsafeRawBufferPointer(rebasing: self.bytes[line]))
        let (fields, facts) = try self.readFieldPositions()
        return (version, status, fields, facts)
    }

    /// Field lines up to the blank line, as `String`s (trailers: rare, and handed on as `HTTPHeaders`).
    mutating func readFields() throws(HTTPParserError) -> (headers: HTTPHeaders, facts: FramingFacts) {
        let (fields, facts) = try self.readFieldPositions()
        let headers = fields.map { field in
            (String(decoding: UnsafeRawBufferPointer(rebasing: self.bytes[field.nameRange]), as: UTF8.self),
             String(decoding: UnsafeRawBufferPointer(rebasing: self.bytes[field.valueRange]), as: UTF8.self))
        }
        return (HTTPHeaders(headers), facts)
    }

    /// Field lines up to the blank line: where each name and value is, validated, with the framing facts.
    mutating func readFieldPositions() throws(HTTPParserError) -> (
        fields: [HTTPFieldBlock.Field], facts: FramingFacts
    ) {
        var fields: [HTTPFieldBlock.Field] = []
        fields.reserveCapacity(16)
        var facts = FramingFacts()
        var count = 0
        var size = 0
        while true {
            let line = try self.nextLine()
            if line.isEmpty {
                return (fields, facts)
            }
            let field = UnsafeRawBufferPointer(rebasing: self.bytes[line])
            // obs-fold (a line starting with whitespace) is refused, not unfolded (RFC 9112 §5.2).
            guard let colon = Self.nameEnd(field) else { throw .invalidHeaderToken }
            let name = UnsafeRawBufferPointer(rebasing: field[..<colon])
            var valueStart = colon + 1
            var valueEnd = field.count
            while valueStart < valueEnd, field[valueStart] == .space || field[valueStart] == .tab { valueStart += 1 }
            while valueEnd > valueStart, field[valueEnd - 1] == .space || field[valueEnd - 1] == .tab { valueEnd -= 1 }
            let value = UnsafeRawBufferPointer(rebasing: field[valueStart..<valueEnd])
            guard Self.isFieldValue(value) else { throw .invalidHeaderToken }
            count += 1
            size += name.count + value.count
            if count > self.limits.maxHeaderFieldCount || size > self.limits.maxHeaderListSize {
                throw .headerOverflow
            }
            try facts.note(name: name, value: value)
            fields.append(
                HTTPFieldBlock.Field(
                    nameStart: UInt32(line.lowerBound), nameLength: UInt32(colon),
                    valueStart: UInt32(line.lowerBound + valueStart), valueLength: UInt32(valueEnd - valueStart)))
        }
    }

    /// Whether every byte was read.
    var isAtEnd: Bool { self.index == self.bytes.count }

    /// The range of the next line without its CRLF; a bare LF is refused (RFC 9112 §2.2 allows a recipient to
    /// accept it, llhttp does not, and neither does a proxy that must not see a different message than the next hop).
    private mutating func nextLine() throws(HTTPParserError) -> Range<Int> {
        guard let lineFeed = HTTPMessageFraming.firstIndex(of: .lf, in: self.bytes, from: self.index) else {
            throw .invalidInternalState  // the caller found the blank line: unreachable
        }
        guard lineFeed > self.index, self.bytes[lineFeed - 1] == .cr else { throw .lfExpected }
        let line = self.index..<(lineFeed - 1)
        self.index = lineFeed + 1
        return line
    }

    /// `method SP request-target SP HTTP-version`, one space each.
    private static func requestLine(
        _ line: UnsafeRawBufferPointer
    ) throws(HTTPParserError) -> (HTTPMethod, String, HTTPVersion) {
        guard let methodEnd = HTTPMessageFraming.firstIndex(of: .space, in: line, from: 0), methodEnd > 0 else {
            throw .invalidMethod
        }
        let method = try Self.method(UnsafeRawBufferPointer(rebasing: line[..<methodEnd]))
        let targetStart = methodEnd + 1
        guard let targetEnd = HTTPMessageFraming.firstIndex(of: .space, in: line, from: targetStart),
            targetEnd > targetStart
        else { throw .invalidURL }
        let target = UnsafeRawBufferPointer(rebasing: line[targetStart..<targetEnd])
        // Visible ASCII only (RFC 9112 §3.2, RFC 3986): no control byte, no space, nothing above 0x7E.
        for byte in target where byte <= .space || byte >= 0x7F {
            throw .invalidURL
        }
        guard Self.isRequestTargetForm(target, method: method) else { throw .invalidURL }
        let version = try Self.version(UnsafeRawBufferPointer(rebasing: line[(targetEnd + 1)...]))
        return (method, String(decoding: target, as: UTF8.self), version)
    }

    /// One of the four forms of RFC 9112 §3.2, as llhttp tells them apart: origin-form (`/…`), asterisk-form
    /// (`*`), absolute-form (`scheme://…`, letters only in the scheme) and, for CONNECT only, authority-form.
    private static func isRequestTargetForm(_ target: UnsafeRawBufferPointer, method: HTTPMethod) -> Bool {
        if method.isCONNECT {
            return !target.contains(UInt8(ascii: "/"))
        }
        switch target[0] {
        case UInt8(ascii: "/"):
            return true
        case UInt8(ascii: "*"):
            return target.count == 1
        default:
            var index = 0
            while index < target.count, Self.isLetter(target[index]) { index += 1 }
            return index > 0 && target.count > index + 3 && target[index] == .colon
                && target[index + 1] == UInt8(ascii: "/") && target[index + 2] == UInt8(ascii: "/")
        }
    }

    private static func isLetter(_ byte: UInt8) -> Bool {
        (byte | 0x20) >= UInt8(ascii: "a") && (byte | 0x20) <= UInt8(ascii: "z")
    }

    private static func method(_ token: UnsafeRawBufferPointer) throws(HTTPParserError) -> HTTPMethod {
        // The methods of this API first, compared as words (a generic `elementsEqual` cost ~250 instructions).
        switch token.count {
        case 3 where token[0] == UInt8(ascii: "G") && token[1] == UInt8(ascii: "E") && token[2] == UInt8(ascii: "T"):
            return .GET
        case 4:
            switch token.loadUnaligned(as: UInt32.self).littleEndian {
            case 0x5453_4F50: return .POST  // "POST"
            case 0x4441_4548: return .HEAD  // "HEAD"
            default: break
            }
        case 6 where token.loadUnaligned(as: UInt32.self).littleEndian == 0x454C_4544  // "DELE"
            && token.loadUnaligned(fromByteOffset: 4, as: UInt16.self).littleEndian == 0x4554:  // "TE"
            return .DELETE
        default: break
        }
        guard token.allSatisfy(Self.isTokenByte) else { throw .invalidMethod }
        // Methods are case-sensitive; llhttp knows a fixed list: NIO's `HTTPMethod` cases and QUERY.
        let method = HTTPMethod(rawValue: String(decoding: token, as: UTF8.self))
        if case .RAW(let value) = method, value != "QUERY" { throw .invalidMethod }
        return method
    }

    /// `HTTP-version SP 3DIGIT SP [ reason-phrase ]`; llhttp also takes a line that ends after the code.
    private static func statusLine(
        _ line: UnsafeRawBufferPointer
    ) throws(HTTPParserError) -> (HTTPVersion, HTTPResponseStatus) {
        let version = try Self.version(UnsafeRawBufferPointer(rebasing: line[..<min(8, line.count)]))
        guard line.count >= 12, line[8] == .space else { throw .invalidStatus }
        var code = 0
        for byte in line[9..<12] {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { throw .invalidStatus }
            code = code * 10 + Int(byte - UInt8(ascii: "0"))
        }
        if line.count > 12 {
            guard line[12] == .space, Self.isFieldValue(UnsafeRawBufferPointer(rebasing: line[13...])) else {
                throw .invalidStatus
            }
        }
        // The upstream's reason phrase is not kept (known codes get NIO's), as NIO's decoder did.
        return (version, HTTPResponseStatus(statusCode: code))
    }

    private static func version(_ bytes: UnsafeRawBufferPointer) throws(HTTPParserError) -> HTTPVersion {
        // "HTTP/1." as one word (a generic `starts(with:)` cost ~300 instructions per head).
        guard bytes.count == 8, bytes.loadUnaligned(as: UInt64.self).littleEndian & 0x00FF_FFFF_FFFF_FFFF == 0x2E_312F_5054_5448
        else { throw .invalidVersion }
        switch bytes[7] {
        case UInt8(ascii: "1"): return .http1_1
        case UInt8(ascii: "0"): return .http1_0
        default: throw .invalidVersion
        }
    }

    /// The index of the colon after a field name made of token characters, if the line starts with one.
    private static func nameEnd(_ line: UnsafeRawBufferPointer) -> Int? {
        for index in line.indices {
            let byte = line[index]
            // Letters and `-` first: nearly every name is made of them alone. (A bit table of `tchar` instead
            // measured ~20 % more instructions per name in bench/profile.)
            let lower = byte | 0x20
            if (lower >= UInt8(ascii: "a") && lower <= UInt8(ascii: "z")) || byte == UInt8(ascii: "-") { continue }
            if byte == .colon { return index > 0 ? index : nil }
            if !Self.isTokenByte(byte) { return nil }
        }
        return nil
    }

    /// `tchar` (RFC 9110 §5.6.2).
    static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"),
            UInt8(ascii: "'"), UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."),
            UInt8(ascii: "^"), UInt8(ascii: "_"), UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"):
            return true
        default:
            return false
        }
    }

    /// `field-value` characters: visible ASCII, obs-text, space and tab (RFC 9110 §5.5); no other control byte.
    ///
    /// Eight bytes at a time while none of them is a control byte or DEL (SWAR: a byte below 0x20 or equal to 0x7F
    /// sets its high bit in `flagged`); a word with one, a tab perhaps, and the rest of the value go byte by byte.
    private static func isFieldValue(_ value: UnsafeRawBufferPointer) -> Bool {
        var index = 0
        while index + 8 <= value.count {
            let word = value.loadUnaligned(fromByteOffset: index, as: UInt64.self)
            let belowSpace = (word &- 0x2020_2020_2020_2020) & ~word
            let delete = word ^ 0x7F7F_7F7F_7F7F_7F7F
            let isDelete = (delete &- 0x0101_0101_0101_0101) & ~delete
            let flagged = (belowSpace | isDelete) & 0x8080_8080_8080_8080
            if flagged != 0 { break }
            index += 8
        }
        while index < value.count {
            let byte = value[index]
            if (byte < .space && byte != .tab) || byte == 0x7F { return false }
            index += 1
        }
        return true
    }
}

/// What the fields of a message say about its body and its connection.
struct FramingFacts {
    enum Framing: Equatable {
        case none
        case length(UInt64)
        case chunked
    }

    private var contentLength: UInt64?
    private var transferCodings = 0
    private var chunkedIsLast = false
    private var chunkedBeforeLast = false
    private var connectionClose = false
    private var connectionKeepAlive = false
    private var connectionUpgrade = false
    private var upgradeField = false

    /// `Connection: upgrade` with an `Upgrade` field: after this request the connection speaks another protocol.
    var upgrades: Bool { self.connectionUpgrade && self.upgradeField }

    /// A `Content-Length` or `Transfer-Encoding` field was seen (refused in trailers, RFC 9110 §6.5.1).
    var namesFraming: Bool { self.contentLength != nil || self.transferCodings > 0 }

    /// Whether the connection stays open after this message (RFC 9112 §9.3): HTTP/1.1 unless `close`,
    /// HTTP/1.0 only with `keep-alive`.
    func keepsAlive(minorVersion: Int) -> Bool {
        minorVersion >= 1 ? !self.connectionClose : self.connectionKeepAlive && !self.connectionClose
    }

    mutating func note(name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) throws(HTTPParserError) {
        switch name.count {
        case 14 where Self.equalsLowercase(name, "content-length"):
            // One Content-Length of digits only: "1, 1", a sign, or a second field are refused (RFC 9112 §6.3
            // lets a recipient refuse them, and accepting them is how lengths are smuggled).
            guard self.contentLength == nil else { throw .unexpectedContentLength }
            guard !value.isEmpty else { throw .invalidContentLength }
            var length: UInt64 = 0
            for byte in value {
                guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { throw .invalidContentLength }
                let (times10, overflow1) = length.multipliedReportingOverflow(by: 10)
                let (sum, overflow2) = times10.addingReportingOverflow(UInt64(byte - UInt8(ascii: "0")))
                guard !overflow1, !overflow2 else { throw .invalidContentLength }
                length = sum
            }
            self.contentLength = length
        case 17 where Self.equalsLowercase(name, "transfer-encoding"):
            // Codings are tokens, with parameters of tokens or quoted strings: nothing else (no obs-text).
            for byte in value where !HTTPHeadReader.isTokenByte(byte) {
                switch byte {
                case .space, .tab, .comma, .semicolon, UInt8(ascii: "="), UInt8(ascii: "\""): continue
                default: throw .invalidHeaderToken
                }
            }
            Self.forEachElement(of: value) { coding in
                self.transferCodings += 1
                if self.chunkedIsLast { self.chunkedBeforeLast = true }
                self.chunkedIsLast = coding.count == 7 && Self.equalsLowercase(coding, "chunked")
            }
            if self.transferCodings == 0 { self.transferCodings = 1 }  // an empty value is still a coding field
        case 10 where Self.equalsLowercase(name, "connection"):
            Self.forEachElement(of: value) { option in
                switch option.count {
                case 5 where Self.equalsLowercase(option, "close"): self.connectionClose = true
                case 10 where Self.equalsLowercase(option, "keep-alive"): self.connectionKeepAlive = true
                case 7 where Self.equalsLowercase(option, "upgrade"): self.connectionUpgrade = true
                default: break
                }
            }
        case 7 where Self.equalsLowercase(name, "upgrade"):
            self.upgradeField = true
        default:
            break
        }
    }

    /// The response body's framing (RFC 9112 §6.3): Transfer-Encoding with Content-Length is refused rather than
    /// resolved; a final coding other than `chunked` (or `chunked` applied twice) runs until the connection closes.
    func framing() throws(HTTPParserError) -> Framing {
        if self.transferCodings > 0 {
            guard self.contentLength == nil else { throw .unexpectedContentLength }
            guard self.chunkedIsLast, !self.chunkedBeforeLast else { return .none }
            return .chunked
        }
        if let length = self.contentLength {
            return .length(length)
        }
        return .none
    }

    /// The request body's framing (RFC 9112 §6.3): as a response's, except that a request whose final coding is not
    /// `chunked` (or that applies it twice) has no length at all and is refused.
    func requestFraming() throws(HTTPParserError) -> Framing {
        if self.transferCodings > 0, self.contentLength == nil, !self.chunkedIsLast || self.chunkedBeforeLast {
            throw .unknown
        }
        return try self.framing()
    }

    /// Calls `body` with each non-empty element of a comma-separated list, without its surrounding whitespace.
    private static func forEachElement(of list: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) -> Void) {
        var start = 0
        while start <= list.count {
            let end = HTTPMessageFraming.firstIndex(of: .comma, in: list, from: start) ?? list.count
            var first = start
            var last = end
            while first < last, list[first] == .space || list[first] == .tab { first += 1 }
            while last > first, list[last - 1] == .space || list[last - 1] == .tab { last -= 1 }
            if last > first {
                body(UnsafeRawBufferPointer(rebasing: list[first..<last]))
            }
            start = end + 1
        }
    }

    /// ASCII case-insensitive equality with a lowercase literal of the same length.
    static func equalsLowercase(_ bytes: UnsafeRawBufferPointer, _ lowercase: StaticString) -> Bool {
        guard bytes.count == lowercase.utf8CodeUnitCount else { return false }
        let expected = lowercase.utf8Start
        for index in 0..<bytes.count where bytes[index] | 0x20 != expected[index] {
            return false
        }
        return true
    }
}

/// A chunk-size line: `chunk-size [ chunk-ext ] CRLF` (RFC 9112 §7.1), extensions checked and ignored.
enum ChunkLine {
    /// The chunk's size, or nil for a malformed line. `line` ends with its LF.
    static func parse(_ line: UnsafeRawBufferPointer) -> UInt64? {
        guard line.count >= 3, line[line.count - 2] == .cr else { return nil }
        let content = UnsafeRawBufferPointer(rebasing: line[..<(line.count - 2)])
        var size: UInt64 = 0
        var index = 0
        while index < content.count, let digit = Self.hexValue(content[index]) {
            guard size >> 60 == 0 else { return nil }  // would overflow
            size = size << 4 | UInt64(digit)
            index += 1
        }
        guard index > 0 else { return nil }
        // Extensions: *( ";" ext-name [ "=" ext-val ] ), names and values tokens or quoted strings. RFC 9112 allows
        // whitespace around the separators; llhttp refuses it, and so does foap (they are dropped either way).
        while index < content.count {
            guard content[index] == .semicolon else { return nil }
            index += 1
            let nameStart = index
            while index < content.count, HTTPHeadReader.isTokenByte(content[index]) { index += 1 }
            guard index > nameStart else { return nil }
            guard index < content.count, content[index] == UInt8(ascii: "=") else { continue }
            index += 1
            if index < content.count, content[index] == UInt8(ascii: "\"") {
                guard let end = Self.quotedStringEnd(content, from: index) else { return nil }
                index = end
            } else {
                let valueStart = index
                while index < content.count, HTTPHeadReader.isTokenByte(content[index]) { index += 1 }
                guard index > valueStart else { return nil }
            }
        }
        return size
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }

    /// The index after a quoted-string starting at `start` (its opening quote).
    private static func quotedStringEnd(_ bytes: UnsafeRawBufferPointer, from start: Int) -> Int? {
        var index = start + 1
        while index < bytes.count {
            switch bytes[index] {
            case UInt8(ascii: "\""): return index + 1
            case UInt8(ascii: "\\"): index += 2
            case let byte where (byte < .space && byte != .tab) || byte == 0x7F: return nil
            default: index += 1
            }
        }
        return nil
    }
}
