/// A small, strict, order-preserving JSON reader (RFC 8259) that knows where everything is.
///
/// It exists because Foundation's `JSONSerialization` cannot do three things foap needs:
/// - keep the key order of objects (on Linux it returns an unordered dictionary, and `/v1/models` must list
///   models in config order);
/// - report syntax errors as `line:column` so `foap check` can point an editor at the mistake;
/// - give validation a position for every value.
///
/// What it accepts is exactly RFC 8259: objects, arrays, strings with every escape (surrogate pairs must be
/// paired), numbers by the RFC grammar, `true`/`false`/`null`, whitespace of space, tab, CR and LF. A UTF-8
/// byte order mark at the start is skipped (the RFC allows that). It rejects duplicate keys in one object,
/// because a silently shadowed key is the same bug as a silently replaced model id. Nesting is limited to
/// ``maximumDepth`` so a hostile file cannot exhaust the stack.
struct JSONReader {
    /// Deepest nesting accepted. A foap config is six levels deep; 64 leaves room and bounds recursion.
    static let maximumDepth = 64

    private let bytes: [UInt8]
    private var index: Int = 0
    private var position: JSONPosition = .start
    private var depth: Int = 0

    private init(bytes: [UInt8]) {
        self.bytes = bytes
    }

    /// Parses one complete JSON text.
    ///
    /// - Parameter bytes: the file contents, UTF-8.
    /// - Returns: the top-level value with its position.
    /// - Throws: ``JSONSyntaxError`` at the first character that is not valid JSON.
    static func parse(_ bytes: [UInt8]) throws(JSONSyntaxError) -> JSONNode {
        var reader = JSONReader(bytes: bytes)
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) {
            reader.index = 3
        }
        reader.skipWhitespace()
        let node = try reader.readValue()
        reader.skipWhitespace()
        if reader.index < bytes.count {
            throw reader.error("unexpected \(reader.describeCurrent()) after the top-level value")
        }
        return node
    }

    // MARK: - Values

    private mutating func readValue() throws(JSONSyntaxError) -> JSONNode {
        let start = self.position
        guard let byte = self.peek() else {
            throw self.error("unexpected end of input, expected a value")
        }
        switch byte {
        case UInt8(ascii: "{"):
            return JSONNode(value: .object(try self.readObject()), position: start)
        case UInt8(ascii: "["):
            return JSONNode(value: .array(try self.readArray()), position: start)
        case UInt8(ascii: "\""):
            return JSONNode(value: .string(try self.readString()), position: start)
        case UInt8(ascii: "t"):
            try self.readLiteral("true")
            return JSONNode(value: .bool(true), position: start)
        case UInt8(ascii: "f"):
            try self.readLiteral("false")
            return JSONNode(value: .bool(false), position: start)
        case UInt8(ascii: "n"):
            try self.readLiteral("null")
            return JSONNode(value: .null, position: start)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return JSONNode(value: .number(try self.readNumber()), position: start)
        default:
            throw self.error("unexpected \(self.describeCurrent()), expected a value")
        }
    }

    private mutating func readObject() throws(JSONSyntaxError) -> JSONObject {
        try self.enterContainer()
        self.advance()  // {
        var members: [JSONMember] = []
        var seen: [String: JSONPosition] = [:]
        self.skipWhitespace()
        if self.peek() == UInt8(ascii: "}") {
            self.advance()
            self.depth -= 1
            return JSONObject(members: members)
        }
        while true {
            self.skipWhitespace()
            guard self.peek() == UInt8(ascii: "\"") else {
                throw self.error("unexpected \(self.describeCurrent()), expected a string key")
            }
            let keyPosition = self.position
            let key = try self.readString()
            if let first = seen[key] {
                throw JSONSyntaxError(
                    position: keyPosition,
                    message: "duplicate key \"\(key)\" (first at line \(first.line), column \(first.column))"
                )
            }
            seen[key] = keyPosition
            self.skipWhitespace()
            try self.expect(UInt8(ascii: ":"), "expected ':' after an object key")
            self.skipWhitespace()
            let value = try self.readValue()
            members.append(JSONMember(key: key, keyPosition: keyPosition, value: value))
            self.skipWhitespace()
            if self.peek() == UInt8(ascii: ",") {
                self.advance()
                continue
            }
            try self.expect(UInt8(ascii: "}"), "expected ',' or '}' after an object member")
            self.depth -= 1
            return JSONObject(members: members)
        }
    }

    private mutating func readArray() throws(JSONSyntaxError) -> [JSONNode] {
        try self.enterContainer()
        self.advance()  // [
        var elements: [JSONNode] = []
        self.skipWhitespace()
        if self.peek() == UInt8(ascii: "]") {
            self.advance()
            self.depth -= 1
            return elements
        }
        while true {
            self.skipWhitespace()
            elements.append(try self.readValue())
            self.skipWhitespace()
            if self.peek() == UInt8(ascii: ",") {
                self.advance()
                continue
            }
            try self.expect(UInt8(ascii: "]"), "expected ',' or ']' after an array element")
            self.depth -= 1
            return elements
        }
    }

    private mutating func enterContainer() throws(JSONSyntaxError) {
        guard self.depth < Self.maximumDepth else {
            throw self.error("nesting deeper than \(Self.maximumDepth) levels")
        }
        self.depth += 1
    }

    private mutating func readLiteral(_ literal: StaticString) throws(JSONSyntaxError) {
        let start = self.position
        let expected = UnsafeBufferPointer(start: literal.utf8Start, count: literal.utf8CodeUnitCount)
        for byte in expected {
            guard self.peek() == byte else {
                throw JSONSyntaxError(position: start, message: "invalid literal, expected '\(literal)'")
            }
            self.advance()
        }
    }

    // MARK: - Numbers

    /// Reads `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?` and converts it to a finite `Double`.
    private mutating func readNumber() throws(JSONSyntaxError) -> Double {
        let start = self.position
        let startIndex = self.index
        if self.peek() == UInt8(ascii: "-") {
            self.advance()
        }
        if self.peek() == UInt8(ascii: "0") {
            self.advance()
            if let next = self.peek(), Self.isDigit(next) {
                throw self.error("invalid number: leading zeros are not allowed")
            }
        } else {
            try self.readDigits()
        }
        if self.peek() == UInt8(ascii: ".") {
            self.advance()
            try self.readDigits()
        }
        if self.peek() == UInt8(ascii: "e") || self.peek() == UInt8(ascii: "E") {
            self.advance()
            if self.peek() == UInt8(ascii: "+") || self.peek() == UInt8(ascii: "-") {
                self.advance()
            }
            try self.readDigits()
        }
        let text = String(decoding: self.bytes[startIndex..<self.index], as: UTF8.self)
        guard let number = Double(text), number.isFinite else {
            throw JSONSyntaxError(position: start, message: "number out of range")
        }
        return number
    }

    private mutating func readDigits() throws(JSONSyntaxError) {
        guard let first = self.peek(), Self.isDigit(first) else {
            throw self.error("invalid number: expected a digit, found \(self.describeCurrent())")
        }
        while let byte = self.peek(), Self.isDigit(byte) {
            self.advance()
        }
    }

    private static func isDigit(_ byte: UInt8) -> Bool {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
    }

    // MARK: - Primitives

    private func peek() -> UInt8? {
        self.index < self.bytes.count ? self.bytes[self.index] : nil
    }

    /// Consumes one byte and moves the position: LF starts a new line; UTF-8 continuation bytes do not
    /// count as columns, so a column is one Unicode scalar.
    private mutating func advance() {
        let byte = self.bytes[self.index]
        self.index += 1
        if byte == UInt8(ascii: "\n") {
            self.position.line += 1
            self.position.column = 1
        } else if byte & 0xC0 != 0x80 {
            self.position.column += 1
        }
    }

    private mutating func skipWhitespace() {
        while let byte = self.peek(),
            byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") || byte == UInt8(ascii: "\n")
                || byte == UInt8(ascii: "\r")
        {
            self.advance()
        }
    }

    private mutating func expect(_ byte: UInt8, _ message: String) throws(JSONSyntaxError) {
        guard self.peek() == byte else {
            throw self.error("\(message), found \(self.describeCurrent())")
        }
        self.advance()
    }

    func error(_ message: String) -> JSONSyntaxError {
        JSONSyntaxError(position: self.position, message: message)
    }

    /// Names the next character for a message: printable ASCII is quoted, anything else is shown as a byte,
    /// so an error never echoes a run of file content.
    func describeCurrent() -> String {
        guard let byte = self.peek() else {
            return "end of input"
        }
        if byte >= 0x21 && byte < 0x7F {
            return "'\(Character(Unicode.Scalar(byte)))'"
        }
        return "byte 0x\(String(byte, radix: 16, uppercase: true))"
    }
}

// MARK: - Strings

extension JSONReader {
    /// Reads a string literal, decoding every escape; raw control characters and invalid UTF-8 are errors.
    fileprivate mutating func readString() throws(JSONSyntaxError) -> String {
        let start = self.position
        self.advance()  // opening quote
        var utf8: [UInt8] = []
        while true {
            guard let byte = self.peek() else {
                throw JSONSyntaxError(position: start, message: "unterminated string")
            }
            switch byte {
            case UInt8(ascii: "\""):
                self.advance()
                guard let string = String(validating: utf8, as: UTF8.self) else {
                    throw JSONSyntaxError(position: start, message: "string is not valid UTF-8")
                }
                return string
            case UInt8(ascii: "\\"):
                try self.readEscape(into: &utf8)
            case 0x00..<0x20:
                throw self.error("control character in string must be escaped")
            default:
                utf8.append(byte)
                self.advance()
            }
        }
    }

    private mutating func readEscape(into utf8: inout [UInt8]) throws(JSONSyntaxError) {
        let start = self.position
        self.advance()  // backslash
        guard let byte = self.peek() else {
            throw JSONSyntaxError(position: start, message: "unterminated string")
        }
        let simple: UInt8? =
            switch byte {
            case UInt8(ascii: "\""): UInt8(ascii: "\"")
            case UInt8(ascii: "\\"): UInt8(ascii: "\\")
            case UInt8(ascii: "/"): UInt8(ascii: "/")
            case UInt8(ascii: "b"): 0x08
            case UInt8(ascii: "f"): 0x0C
            case UInt8(ascii: "n"): 0x0A
            case UInt8(ascii: "r"): 0x0D
            case UInt8(ascii: "t"): 0x09
            default: nil
            }
        if let simple {
            self.advance()
            utf8.append(simple)
            return
        }
        guard byte == UInt8(ascii: "u") else {
            throw JSONSyntaxError(position: start, message: "invalid escape sequence")
        }
        self.advance()
        let unit = try self.readHex4(escapeStart: start)
        let scalarValue: UInt32
        switch unit {
        case 0xD800...0xDBFF:
            // A high surrogate must be followed by an escaped low surrogate: together they are one scalar.
            guard self.peek() == UInt8(ascii: "\\") else {
                throw JSONSyntaxError(position: start, message: "unpaired surrogate in \\u escape")
            }
            let lowStart = self.position
            self.advance()
            guard self.peek() == UInt8(ascii: "u") else {
                throw JSONSyntaxError(position: start, message: "unpaired surrogate in \\u escape")
            }
            self.advance()
            let low = try self.readHex4(escapeStart: lowStart)
            guard (0xDC00...0xDFFF).contains(low) else {
                throw JSONSyntaxError(position: start, message: "unpaired surrogate in \\u escape")
            }
            scalarValue = 0x10000 + ((UInt32(unit) - 0xD800) << 10) + (UInt32(low) - 0xDC00)
        case 0xDC00...0xDFFF:
            throw JSONSyntaxError(position: start, message: "unpaired surrogate in \\u escape")
        default:
            scalarValue = UInt32(unit)
        }
        guard let scalar = Unicode.Scalar(scalarValue) else {
            throw JSONSyntaxError(position: start, message: "invalid \\u escape")
        }
        UTF8.encode(scalar) { utf8.append($0) }
    }

    private mutating func readHex4(escapeStart: JSONPosition) throws(JSONSyntaxError) -> UInt16 {
        var value: UInt16 = 0
        for _ in 0..<4 {
            guard let byte = self.peek(), let digit = Self.hexValue(byte) else {
                throw JSONSyntaxError(position: escapeStart, message: "invalid \\u escape: expected 4 hex digits")
            }
            value = value << 4 | UInt16(digit)
            self.advance()
        }
        return value
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}
