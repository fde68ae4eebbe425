#if canImport(Glibc)
import Glibc
#endif
import FOAPJSON
import NIOCore

/// What the proxy needs to know about a JSON request body: the requested model and where it is written.
public struct JSONBodyInspection: Sendable, Equatable {
    /// The (unescaped) value of the top-level `model` member; the last one wins if it is repeated.
    public var model: String
    /// Byte ranges (relative to the body start) of every top-level `model` value literal, quotes included.
    public var modelValueRanges: ModelValueRanges
    /// Whether the top-level `stream` member is `true`.
    public var stream: Bool
    /// Whether the object has a top-level `stream_options` member.
    public var hasStreamOptions = false
    /// Offset of the top-level object's closing `}` (relative to the body start).
    public var closingBrace = 0
    /// The body has a `model` member (only a route with a `default_for_route` model accepts one without).
    public var hasModel = true
}

/// The ranges of a body's `model` values, in order: nearly always one, kept inline (an array allocated per request
/// cost ~500 instructions in bench/profile); more only when a client repeats the member.
public struct ModelValueRanges: RandomAccessCollection, Equatable, ExpressibleByArrayLiteral, Sendable {
    private var first: Range<Int>?
    private var rest: [Range<Int>] = []

    public init(arrayLiteral ranges: Range<Int>...) {
        for range in ranges {
            self.append(range)
        }
    }

    public mutating func append(_ range: Range<Int>) {
        if self.first == nil {
            self.first = range
        } else {
            self.rest.append(range)
        }
    }

    public var startIndex: Int { 0 }
    public var endIndex: Int { self.first == nil ? 0 : 1 + self.rest.count }

    public subscript(position: Int) -> Range<Int> {
        precondition(position >= 0 && position < self.endIndex, "index out of range")
        return position == 0 ? self.first! : self.rest[position - 1]
    }
}

/// Why a JSON body cannot be forwarded; each maps to a 400 the client can act on.
public enum JSONBodyError: Error, Sendable, Equatable {
    case notJSON(offset: Int)
    case notAnObject
    case missingModel
    case modelNotString
    /// A top-level member named `model` in other letter case (`Model`, `MODEL`): Go's `encoding/json` (Ollama and
    /// other Go servers) reads it as the model, so it could run a model foap never checked.
    case modelInOtherCase

    var openAIError: OpenAIError {
        switch self {
        case .notJSON(let offset):
            return .invalidRequest(
                "The request body is not valid JSON (error at byte \(offset)).",
                code: .invalidJSON
            )
        case .notAnObject:
            return .invalidRequest("The request body must be a JSON object.", code: .invalidJSON)
        case .missingModel:
            return .invalidRequest(
                "The request body has no 'model' member.",
                code: .missingModel,
                param: "model"
            )
        case .modelNotString:
            return .invalidRequest("'model' must be a string.", code: .invalidModel, param: "model")
        case .modelInOtherCase:
            return .invalidRequest(
                "The request body has a member named 'model' in other letter case; some upstreams read it as the "
                    + "model, so it is refused.",
                code: .invalidModel, param: "model")
        }
    }
}

/// Validates a JSON body in one pass over its bytes and records the top-level `model` and `stream` members,
/// without building a tree: the body is forwarded byte for byte except for the `model` value, so decoding and
/// re-encoding it (and paying for that on every request) would only risk changing what the client sent.
public struct JSONModelScanner {
    fileprivate let bytes: UnsafeRawBufferPointer
    fileprivate var index = 0
    private static let maxDepth = 512

    /// Inspects `body` (its readable bytes).
    /// - Parameter requireModel: false accepts a body without `model` (`hasModel` false, `model` empty).
    public static func inspect(_ body: ByteBuffer, requireModel: Bool = true) throws(JSONBodyError) -> JSONBodyInspection {
        let result: Result<JSONBodyInspection, JSONBodyError> = body.withUnsafeReadableBytes { raw in
            var scanner = JSONModelScanner(bytes: raw)
            do throws(JSONBodyError) {
                return .success(try scanner.scanDocument(requireModel: requireModel))
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    fileprivate init(bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
    }

    private mutating func scanDocument(requireModel: Bool) throws(JSONBodyError) -> JSONBodyInspection {
        self.skipWhitespace()
        guard self.index < self.bytes.count else { throw .notJSON(offset: self.index) }
        guard self.bytes[self.index] == UInt8(ascii: "{") else {
            // Still tell "not JSON" from "JSON but not an object".
            try self.skipValue(depth: 0)
            self.skipWhitespace()
            guard self.index == self.bytes.count else { throw .notJSON(offset: self.index) }
            throw .notAnObject
        }
        var model: String?
        var everyModelIsString = true
        var ranges = ModelValueRanges()
        var stream = false
        var hasStreamOptions = false
        self.index += 1
        self.skipWhitespace()
        if self.peek() == UInt8(ascii: "}") {
            self.index += 1
        } else {
            while true {
                self.skipWhitespace()
                let keyStart = self.index
                let keyEscaped = try self.skipString()
                let key = UnsafeRawBufferPointer(rebasing: self.bytes[keyStart..<self.index])
                try self.expect(UInt8(ascii: ":"))
                self.skipWhitespace()
                let valueStart = self.index
                if try Self.isKey(key, "\"model\"", escaped: keyEscaped) {
                    if self.peek() == UInt8(ascii: "\"") {
                        let valueEscaped = try self.skipString()
                        ranges.append(valueStart..<self.index)
                        model = try Self.unescape(self.bytes, literal: valueStart..<self.index, escaped: valueEscaped)
                    } else {
                        // Any one of them: parsers that keep the first would read this one.
                        try self.skipValue(depth: 1)
                        everyModelIsString = false
                    }
                } else {
                    if try Self.isKeyInOtherCase(key, "model", escaped: keyEscaped) { throw .modelInOtherCase }
                    try self.skipValue(depth: 1)
                    if try Self.isKey(key, "\"stream\"", escaped: keyEscaped) {
                        let value = UnsafeRawBufferPointer(rebasing: self.bytes[valueStart..<self.index])
                        stream = Self.isLiteral(value, "true")
                    } else if try Self.isKey(key, "\"stream_options\"", escaped: keyEscaped) {
                        hasStreamOptions = true
                    }
                }
                self.skipWhitespace()
                guard let next = self.peek() else { throw .notJSON(offset: self.index) }
                self.index += 1
                if next == UInt8(ascii: "}") { break }
                guard next == UInt8(ascii: ",") else { throw .notJSON(offset: self.index - 1) }
            }
        }
        let closingBrace = self.index - 1
        self.skipWhitespace()
        guard self.index == self.bytes.count else { throw .notJSON(offset: self.index) }
        guard everyModelIsString else { throw .modelNotString }
        guard let model else {
            guard !requireModel else { throw .missingModel }
            return JSONBodyInspection(
                model: "", modelValueRanges: [], stream: stream, hasStreamOptions: hasStreamOptions,
                closingBrace: closingBrace, hasModel: false)
        }
        return JSONBodyInspection(
            model: model, modelValueRanges: ranges, stream: stream, hasStreamOptions: hasStreamOptions,
            closingBrace: closingBrace
        )
    }

    fileprivate func peek() -> UInt8? {
        self.index < self.bytes.count ? self.bytes[self.index] : nil
    }

    fileprivate mutating func expect(_ byte: UInt8) throws(JSONBodyError) {
        self.skipWhitespace()
        guard self.peek() == byte else { throw .notJSON(offset: self.index) }
        self.index += 1
    }

    fileprivate mutating func skipWhitespace() {
        while self.index < self.bytes.count {
            switch self.bytes[self.index] {
            case 0x20, 0x09, 0x0A, 0x0D: self.index += 1
            default: return
            }
        }
    }

    fileprivate mutating func skipValue(depth: Int) throws(JSONBodyError) {
        guard depth < Self.maxDepth else { throw .notJSON(offset: self.index) }
        self.skipWhitespace()
        guard let byte = self.peek() else { throw .notJSON(offset: self.index) }
        switch byte {
        case UInt8(ascii: "\""):
            try self.skipString()
        case UInt8(ascii: "{"):
            try self.skipContainer(close: UInt8(ascii: "}"), depth: depth, keyed: true)
        case UInt8(ascii: "["):
            try self.skipContainer(close: UInt8(ascii: "]"), depth: depth, keyed: false)
        case UInt8(ascii: "t"):
            try self.skipLiteral("true")
        case UInt8(ascii: "f"):
            try self.skipLiteral("false")
        case UInt8(ascii: "n"):
            try self.skipLiteral("null")
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            try self.skipNumber()
        default:
            throw .notJSON(offset: self.index)
        }
    }

    private mutating func skipContainer(close: UInt8, depth: Int, keyed: Bool) throws(JSONBodyError) {
        self.index += 1
        self.skipWhitespace()
        if self.peek() == close {
            self.index += 1
            return
        }
        while true {
            if keyed {
                self.skipWhitespace()
                guard self.peek() == UInt8(ascii: "\"") else { throw .notJSON(offset: self.index) }
                try self.skipString()
                try self.expect(UInt8(ascii: ":"))
            }
            try self.skipValue(depth: depth + 1)
            self.skipWhitespace()
            guard let next = self.peek() else { throw .notJSON(offset: self.index) }
            self.index += 1
            if next == close { return }
            guard next == UInt8(ascii: ",") else { throw .notJSON(offset: self.index - 1) }
        }
    }

    /// Skips a string literal; returns whether it holds an escape (one without needs no unescaping or second look).
    @discardableResult
    fileprivate mutating func skipString() throws(JSONBodyError) -> Bool {
        guard self.peek() == UInt8(ascii: "\"") else { throw .notJSON(offset: self.index) }
        self.index += 1
        var escaped = false
        while self.index < self.bytes.count {
            // Eight bytes at a time to the next byte that ends the string, escapes or is a control byte (string
            // values are most of a request's bytes; byte by byte cost ~10 instructions per byte in bench/profile).
            while self.index + 8 <= self.bytes.count {
                let mask = JSONStringEscaping.escapeMask(
                    self.bytes.loadUnaligned(fromByteOffset: self.index, as: UInt64.self).littleEndian)
                guard mask == 0 else {
                    self.index += mask.trailingZeroBitCount >> 3
                    break
                }
                self.index += 8
            }
            guard self.index < self.bytes.count else { break }
            let byte = self.bytes[self.index]
            switch byte {
            case UInt8(ascii: "\""):
                self.index += 1
                return escaped
            case UInt8(ascii: "\\"):
                escaped = true
                self.index += 2
            case 0x00..<0x20:
                throw .notJSON(offset: self.index)
            default:
                self.index += 1
            }
        }
        throw .notJSON(offset: self.index)
    }

    private mutating func skipLiteral(_ literal: StaticString) throws(JSONBodyError) {
        let count = literal.utf8CodeUnitCount
        guard self.index + count <= self.bytes.count else { throw .notJSON(offset: self.index) }
        let matches = literal.withUTF8Buffer { expected in
            (0..<count).allSatisfy { self.bytes[self.index + $0] == expected[$0] }
        }
        guard matches else { throw .notJSON(offset: self.index) }
        self.index += count
    }

    private mutating func skipNumber() throws(JSONBodyError) {
        let start = self.index
        while let byte = self.peek() {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "+"), UInt8(ascii: "."),
                UInt8(ascii: "e"), UInt8(ascii: "E"):
                self.index += 1
            default:
                guard self.index > start else { throw .notJSON(offset: self.index) }
                return
            }
        }
    }

    private static func isLiteral(_ bytes: UnsafeRawBufferPointer, _ expected: StaticString) -> Bool {
        guard bytes.count == expected.utf8CodeUnitCount else { return false }
        return bytes.count == 0 || memcmp(bytes.baseAddress!, expected.utf8Start, bytes.count) == 0
    }

    /// Whether the key literal `bytes` (quotes included) names `expected` (quoted). An escaped spelling such as
    /// `"mod\u0065l"` is the same key to every JSON parser, so to the upstream too: it must count, or a client could
    /// route by one `model` and have the upstream read another one that no config entry allows.
    ///
    /// - Parameter escaped: whether the key holds an escape (`skipString`'s answer): one without is the literal or
    ///   not the key.
    fileprivate static func isKey(
        _ bytes: UnsafeRawBufferPointer,
        _ expected: StaticString,
        escaped: Bool = true
    ) throws(JSONBodyError) -> Bool {
        if Self.isLiteral(bytes, expected) { return true }
        guard escaped, bytes.contains(UInt8(ascii: "\\")) else { return false }
        let name = try Self.unescape(bytes)
        return expected.withUTF8Buffer { expected in name.utf8.elementsEqual(expected.dropFirst().dropLast()) }
    }

    /// Whether the key literal `bytes` (quotes included) names `lowercase` in other ASCII letter case. Only a key of
    /// the same length is looked at (or the unescaped name of an escaped one), so a request pays a length
    /// comparison per member.
    fileprivate static func isKeyInOtherCase(
        _ bytes: UnsafeRawBufferPointer,
        _ lowercase: String,
        escaped: Bool
    ) throws(JSONBodyError) -> Bool {
        func sameLetters<Name: Collection<UInt8>>(_ name: Name) -> Bool {
            name.count == lowercase.utf8.count && !name.elementsEqual(lowercase.utf8)
                && zip(name, lowercase.utf8).allSatisfy { $0 | 0x20 == $1 && $1 >= UInt8(ascii: "a") }
        }
        if bytes.count == lowercase.utf8.count + 2 { return sameLetters(bytes.dropFirst().dropLast()) }
        guard escaped, bytes.contains(UInt8(ascii: "\\")) else { return false }
        return sameLetters(try Self.unescape(bytes).utf8)
    }

    /// Unescapes the literal at `range` of `bytes`, reporting an error offset relative to `bytes` (the body), not
    /// to the literal.
    ///
    /// - Parameter escaped: whether the literal holds an escape (`skipString`'s answer); one without is its bytes.
    private static func unescape(
        _ bytes: UnsafeRawBufferPointer,
        literal range: Range<Int>,
        escaped: Bool
    ) throws(JSONBodyError) -> String {
        guard escaped else {
            let inner = bytes[(range.lowerBound + 1)..<(range.upperBound - 1)]
            return String(decoding: UnsafeRawBufferPointer(rebasing: inner), as: UTF8.self)
        }
        do {
            return try Self.unescape(UnsafeRawBufferPointer(rebasing: bytes[range]))
        } catch .notJSON(let offset) {
            throw .notJSON(offset: range.lowerBound + offset)
        } catch {
            throw error
        }
    }

    /// Unescapes a JSON string literal (quotes included) into a Swift string. Error offsets count from the opening
    /// quote.
    static func unescape(_ literal: UnsafeRawBufferPointer) throws(JSONBodyError) -> String {
        let inner = literal[1..<(literal.count - 1)]
        guard inner.contains(UInt8(ascii: "\\")) else {
            return String(decoding: UnsafeRawBufferPointer(rebasing: inner), as: UTF8.self)
        }
        var scalars = String.UnicodeScalarView()
        var utf8: [UInt8] = []
        var i = inner.startIndex
        func flush() {
            scalars.append(contentsOf: String(decoding: utf8, as: UTF8.self).unicodeScalars)
            utf8.removeAll(keepingCapacity: true)
        }
        func hex4(_ at: Int) throws(JSONBodyError) -> UInt32 {
            guard at + 4 <= inner.endIndex else { throw .notJSON(offset: at) }
            var value: UInt32 = 0
            for k in at..<(at + 4) {
                guard let digit = hexDigit(inner[k]) else { throw .notJSON(offset: k) }
                value = value << 4 | UInt32(digit)
            }
            return value
        }
        while i < inner.endIndex {
            let byte = inner[i]
            guard byte == UInt8(ascii: "\\") else {
                utf8.append(byte)
                i += 1
                continue
            }
            guard i + 1 < inner.endIndex else { throw .notJSON(offset: i) }
            let escape = inner[i + 1]
            i += 2
            switch escape {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): utf8.append(escape)
            case UInt8(ascii: "b"): utf8.append(0x08)
            case UInt8(ascii: "f"): utf8.append(0x0C)
            case UInt8(ascii: "n"): utf8.append(0x0A)
            case UInt8(ascii: "r"): utf8.append(0x0D)
            case UInt8(ascii: "t"): utf8.append(0x09)
            case UInt8(ascii: "u"):
                var code = try hex4(i)
                i += 4
                if (0xD800..<0xDC00).contains(code), i + 6 <= inner.endIndex, inner[i] == UInt8(ascii: "\\"),
                    inner[i + 1] == UInt8(ascii: "u")
                {
                    let low = try hex4(i + 2)
                    if (0xDC00..<0xE000).contains(low) {
                        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                        i += 6
                    }
                }
                flush()
                scalars.append(Unicode.Scalar(code) ?? "\u{FFFD}")
            default:
                throw .notJSON(offset: i - 1)
            }
        }
        flush()
        return String(scalars)
    }
}

private func hexDigit(_ byte: UInt8) -> UInt8? {
    switch byte {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
    default: return nil
    }
}

/// The members of a JSON request that bound how many tokens its answer may have: only read for keys with token
/// limits (a second pass over an already validated body), so unlimited traffic never pays for it.
struct OutputTokenFields: Equatable {
    /// `max_tokens`, `max_completion_tokens` or `max_output_tokens` (the last one written wins).
    var maxOutputTokens: Int?
    /// `n`: how many answers are generated.
    var choices: Int?
}

extension JSONModelScanner {
    static func outputTokenFields(_ body: ByteBuffer) -> OutputTokenFields {
        body.withUnsafeReadableBytes { raw in
            var scanner = JSONModelScanner(bytes: raw)
            return (try? scanner.scanOutputTokenFields()) ?? OutputTokenFields()
        }
    }

    private mutating func scanOutputTokenFields() throws(JSONBodyError) -> OutputTokenFields {
        var fields = OutputTokenFields()
        self.skipWhitespace()
        guard self.peek() == UInt8(ascii: "{") else { return fields }
        self.index += 1
        self.skipWhitespace()
        if self.peek() == UInt8(ascii: "}") { return fields }
        while true {
            self.skipWhitespace()
            let keyStart = self.index
            try self.skipString()
            let key = UnsafeRawBufferPointer(rebasing: self.bytes[keyStart..<self.index])
            try self.expect(UInt8(ascii: ":"))
            self.skipWhitespace()
            let valueStart = self.index
            try self.skipValue(depth: 1)
            let value = UnsafeRawBufferPointer(rebasing: self.bytes[valueStart..<self.index])
            let isMaxTokens = try Self.isKey(key, "\"max_tokens\"")
            let isMaxCompletion = try Self.isKey(key, "\"max_completion_tokens\"")
            let isMaxOutput = try Self.isKey(key, "\"max_output_tokens\"")
            if isMaxTokens || isMaxCompletion || isMaxOutput {
                fields.maxOutputTokens = Self.count(value) ?? fields.maxOutputTokens
            } else if try Self.isKey(key, "\"n\"") {
                fields.choices = Self.count(value) ?? fields.choices
            }
            self.skipWhitespace()
            guard let next = self.peek() else { return fields }
            self.index += 1
            if next != UInt8(ascii: ",") { return fields }
        }
    }

    /// A count as the upstream's server reads it: a JSON number in any form (`5000`, `5000.0`, `5e3`; a fraction
    /// counts as the next whole number) or a string holding one (`"5000"`: pydantic's lax mode, so vLLM, takes it);
    /// nil for anything else or a negative one. A limit reserves by it, so `5e3` must not reserve less than `5000`.
    private static func count(_ bytes: UnsafeRawBufferPointer) -> Int? {
        guard let first = bytes.first else { return nil }
        var text: String
        if first == UInt8(ascii: "\"") {
            guard let unescaped = try? Self.unescape(bytes) else { return nil }
            text = unescaped
            while let head = text.first, head == " " || head == "\t" || head == "\n" || head == "\r" { text.removeFirst() }
            while let tail = text.last, tail == " " || tail == "\t" || tail == "\n" || tail == "\r" { text.removeLast() }
        } else {
            text = String(decoding: bytes, as: UTF8.self)
        }
        guard let value = Double(text), value.isFinite, value >= 0 else { return nil }
        return Int(min(value.rounded(.up), 1e15))
    }
}
