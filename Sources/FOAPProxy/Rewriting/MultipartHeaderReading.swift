/// How foap reads the two headers that decide which bytes of a multipart body are the `model` field: the request's
/// `Content-Type` (the boundary) and each part's `Content-Disposition` (the field name).
///
/// foap checks and rewrites the `model` it finds, and the upstream's form parser then reads the same bytes. Where
/// parsers disagree — the first `boundary` parameter or the last, a repeated `name`, an RFC 2231 `name*`, a folded
/// header line, a second `Content-Disposition` — a body could show foap one `model` and the upstream another (a
/// client key allowed one model running any other on the operator's key). So whatever one parser could read
/// differently from another is refused as ambiguous, never guessed at.
enum MultipartHeaderReading {
    /// What a request's `Content-Type` makes of its body.
    enum ContentType: Equatable {
        case notMultipart
        case boundary(String)
        /// `multipart/form-data` without exactly one usable `boundary`.
        case ambiguous
    }

    /// What a part's header block names it.
    enum PartName: Equatable {
        case unnamed
        case named(String)
        case ambiguous
    }

    /// The longest boundary accepted (RFC 2046 allows 70; some clients send longer ones).
    static let maximumBoundaryLength = 200

    static func contentType(_ contentType: String) -> ContentType {
        let bytes = Array(contentType.utf8)
        var reader = ParameterReader(bytes)
        let type = reader.token()
        guard Self.equalsLowercase(type, "multipart/form-data") else { return .notMultipart }
        var boundary: [UInt8]?
        while let parameter = reader.nextParameter() {
            guard let parameter, let value = parameter.value else { return .ambiguous }
            let name = String(decoding: parameter.name, as: UTF8.self).lowercased()
            if name == "boundary*" { return .ambiguous }
            guard name == "boundary" else { continue }
            guard boundary == nil else { return .ambiguous }
            boundary = value
        }
        guard let boundary, !boundary.isEmpty, boundary.count <= Self.maximumBoundaryLength else { return .ambiguous }
        return .boundary(String(decoding: boundary, as: UTF8.self))
    }

    /// The field name of the part whose header block (without the blank line) is `headers`.
    static func partName(inHeaders headers: UnsafeRawBufferPointer) -> PartName {
        var name: PartName = .unnamed
        var sawDisposition = false
        for line in Array(headers).split(separator: 0x0A) {
            let line = line.last == 0x0D ? line.dropLast() : line
            guard let first = line.first else { continue }
            // A folded line continues the one before it in some parsers and starts nothing in others.
            if first == UInt8(ascii: " ") || first == UInt8(ascii: "\t") { return .ambiguous }
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else { continue }
            let fieldName = Self.trimmed(line[..<colon])
            guard Self.equalsLowercase(fieldName, "content-disposition") else { continue }
            guard !sawDisposition else { return .ambiguous }
            sawDisposition = true
            var reader = ParameterReader(Array(line[(colon + 1)...]))
            _ = reader.token()
            while let parameter = reader.nextParameter() {
                guard let parameter, let value = parameter.value else { return .ambiguous }
                let parameterName = String(decoding: parameter.name, as: UTF8.self).lowercased()
                if parameterName == "name*" { return .ambiguous }
                guard parameterName == "name" else { continue }
                guard name == .unnamed else { return .ambiguous }
                name = .named(String(decoding: value, as: UTF8.self))
            }
        }
        return name
    }

    private static func trimmed(_ bytes: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        var slice = bytes
        while let first = slice.first, first == 0x20 || first == 0x09 { slice = slice.dropFirst() }
        while let last = slice.last, last == 0x20 || last == 0x09 { slice = slice.dropLast() }
        return slice
    }

    /// ASCII letters in any case; every other byte as it is.
    private static func equalsLowercase(_ bytes: ArraySlice<UInt8>, _ lowercase: String) -> Bool {
        bytes.count == lowercase.utf8.count
            && zip(bytes, lowercase.utf8).allSatisfy { (0x41...0x5A).contains($0) ? $0 | 0x20 == $1 : $0 == $1 }
    }
}

/// Reads `type; name=value; name="quoted value"` (RFC 9110 §5.6.6), with optional white space around `;` and `=`
/// as lenient parsers accept it. A `;` inside quotes does not end a parameter.
struct ParameterReader {
    struct Parameter {
        var name: ArraySlice<UInt8>
        /// nil when the value cannot be read one way only: no `=`, a quote left open, or a backslash escape
        /// (parsers differ on whether they undo it).
        var value: [UInt8]?
    }

    private let bytes: [UInt8]
    private var position = 0

    init(_ bytes: [UInt8]) {
        self.bytes = bytes
    }

    /// The leading token (a media or disposition type), trimmed.
    mutating func token() -> ArraySlice<UInt8> {
        self.skipSpace()
        let start = self.position
        while self.position < self.bytes.count, self.bytes[self.position] != UInt8(ascii: ";") {
            self.position += 1
        }
        var end = self.position
        while end > start, self.bytes[end - 1] == 0x20 || self.bytes[end - 1] == 0x09 { end -= 1 }
        return self.bytes[start..<end]
    }

    /// The next parameter; nil at the end; `.some(nil)` for bytes that are not a parameter at all.
    mutating func nextParameter() -> Parameter?? {
        self.skipSpace()
        guard self.position < self.bytes.count else { return nil }
        guard self.bytes[self.position] == UInt8(ascii: ";") else { return .some(nil) }
        self.position += 1
        self.skipSpace()
        if self.position == self.bytes.count { return nil }  // a trailing `;`
        let nameStart = self.position
        while self.position < self.bytes.count,
            ![UInt8(ascii: "="), UInt8(ascii: ";"), 0x20, 0x09].contains(self.bytes[self.position])
        {
            self.position += 1
        }
        let name = self.bytes[nameStart..<self.position]
        self.skipSpace()
        guard self.position < self.bytes.count, self.bytes[self.position] == UInt8(ascii: "=") else {
            // A bare word (`; name`): parsers differ on what it names.
            return Parameter(name: name, value: nil)
        }
        self.position += 1
        self.skipSpace()
        return Parameter(name: name, value: self.value())
    }

    private mutating func value() -> [UInt8]? {
        guard self.position < self.bytes.count, self.bytes[self.position] == UInt8(ascii: "\"") else {
            let start = self.position
            while self.position < self.bytes.count, ![UInt8(ascii: ";"), 0x20, 0x09].contains(self.bytes[self.position])
            {
                self.position += 1
            }
            let value = Array(self.bytes[start..<self.position])
            return value.contains(UInt8(ascii: "\"")) || value.contains(UInt8(ascii: "\\")) ? nil : value
        }
        self.position += 1
        let start = self.position
        while self.position < self.bytes.count {
            switch self.bytes[self.position] {
            case UInt8(ascii: "\\"):
                return nil
            case UInt8(ascii: "\""):
                let value = Array(self.bytes[start..<self.position])
                self.position += 1
                return value
            default:
                self.position += 1
            }
        }
        return nil
    }

    private mutating func skipSpace() {
        while self.position < self.bytes.count, self.bytes[self.position] == 0x20 || self.bytes[self.position] == 0x09 {
            self.position += 1
        }
    }
}
