import NIOCore
import NIOHTTP1

/// The field lines of a received head, kept as the bytes they arrived in, with where each name and value is.
///
/// A proxy relays nearly every field of an upstream's answer unchanged: turning each into two `String`s and an
/// `HTTPHeaders`, filtering those and encoding them again cost ~11,000 instructions per response in bench/profile.
/// The block is read without copies, fields are dropped by position, and the writer copies the bytes
/// (`HTTPResponseWriter.writeHead(_:relaying:into:)`). A value becomes a `String` only when asked for.
public struct HTTPFieldBlock: Sendable {
    /// Where one field's name and value (without the whitespace around it) are in `bytes`.
    @usableFromInline
    struct Field: Sendable {
        @usableFromInline var nameStart: UInt32
        @usableFromInline var nameLength: UInt32
        @usableFromInline var valueStart: UInt32
        @usableFromInline var valueLength: UInt32

        @usableFromInline
        init(nameStart: UInt32, nameLength: UInt32, valueStart: UInt32, valueLength: UInt32) {
            self.nameStart = nameStart
            self.nameLength = nameLength
            self.valueStart = valueStart
            self.valueLength = valueLength
        }

        @usableFromInline
        var nameRange: Range<Int> { Int(self.nameStart)..<Int(self.nameStart + self.nameLength) }
        @usableFromInline
        var valueRange: Range<Int> { Int(self.valueStart)..<Int(self.valueStart + self.valueLength) }
        /// `name: value` CRLF.
        var encodedSize: Int { Int(self.nameLength + self.valueLength) + 4 }
    }

    // Visible to inlinable code: `forEach` is inlined where the proxy reads a head's fields, so its closure is not
    // called through a context per field (~400 instructions per request in bench/profile).

    /// The bytes the ranges point into (the whole head, from its first byte).
    @usableFromInline let bytes: ByteBuffer
    @usableFromInline var fields: [Field]
    /// Fields dropped among the first 64 (bit n: `fields[n]`): marking them leaves the array shared with the parsed
    /// head instead of copying it. A later field is removed from the array itself (a head of that many is rare).
    @usableFromInline var dropped: UInt64 = 0

    init(bytes: ByteBuffer, fields: [Field]) {
        self.bytes = bytes
        self.fields = fields
    }

    /// A block without fields.
    public init() {
        self.init(bytes: ByteBuffer(), fields: [])
    }

    /// The field lines in `lines` (each ending with CRLF, then the blank line), checked as a received head's are;
    /// for fields that arrive other than in a head, and for tests.
    public init(fieldLines lines: ByteBuffer, limits: HTTPParserLimits = .init()) throws(HTTPParserError) {
        let end = lines.readableBytesView.suffix(4)
        guard end.elementsEqual("\r\n\r\n".utf8) || (lines.readableBytes == 2 && end.elementsEqual("\r\n".utf8)) else {
            throw .invalidEOFState  // no blank line at the end
        }
        let fields = try lines.withUnsafeReadableBytes { bytes throws(HTTPParserError) in
            var reader = HTTPHeadReader(bytes: bytes, limits: limits)
            let fields = try reader.readFieldPositions().fields
            guard reader.isAtEnd else { throw .invalidEOFState }  // a blank line before the end
            return fields
        }
        self.init(bytes: lines, fields: fields)
    }

    public var count: Int { self.fields.count - self.dropped.nonzeroBitCount }
    public var isEmpty: Bool { self.count == 0 }

    @inlinable
    func isDropped(_ index: Int) -> Bool {
        index < 64 && self.dropped & (1 << UInt64(index)) != 0
    }

    /// Calls `body` with the index, name and value of each field kept, in order; stops when it returns false.
    @inlinable
    func visit(_ body: (Int, Field, UnsafeRawBufferPointer, UnsafeRawBufferPointer) -> Bool) {
        self.bytes.withUnsafeReadableBytes { bytes in
            for index in self.fields.indices where !self.isDropped(index) {
                let field = self.fields[index]
                let name = UnsafeRawBufferPointer(rebasing: bytes[field.nameRange])
                guard body(index, field, name, UnsafeRawBufferPointer(rebasing: bytes[field.valueRange])) else { return }
            }
        }
    }

    /// Calls `body` with each field's name and value, in order.
    @inlinable
    public func forEach(_ body: (_ name: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) -> Void) {
        self.visit { _, _, name, value in
            body(name, value)
            return true
        }
    }

    /// The value of the first field named `lowercase` (any case in the block), or nil.
    public func first(name lowercase: StaticString) -> String? {
        var found: String?
        self.visit { _, _, name, value in
            guard FramingFacts.equalsLowercase(name, lowercase) else { return true }
            found = String(decoding: value, as: UTF8.self)
            return false
        }
        return found
    }

    /// Whether the first field named `lowercase` has a value that starts with `prefix` (no `String` made).
    public func first(name lowercase: StaticString, hasPrefix prefix: StaticString) -> Bool {
        var result = false
        self.visit { _, _, name, value in
            guard FramingFacts.equalsLowercase(name, lowercase) else { return true }
            result = value.starts(with: UnsafeRawBufferPointer(start: prefix.utf8Start, count: prefix.utf8CodeUnitCount))
            return false
        }
        return result
    }

    /// Whether a field is named `lowercase` (any case in the block).
    public func contains(name lowercase: StaticString) -> Bool {
        var found = false
        self.visit { _, _, name, _ in
            found = FramingFacts.equalsLowercase(name, lowercase)
            return !found
        }
        return found
    }

    /// Drops the fields `shouldRemove` picks by name and value; the others keep their order.
    @inline(__always)
    public mutating func removeAll(
        where shouldRemove: (_ name: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) -> Bool
    ) {
        var dropped = self.dropped
        var beyondMask: [Int] = []
        self.visit { index, _, name, value in
            if shouldRemove(name, value) {
                if index < 64 {
                    dropped |= 1 << UInt64(index)
                } else {
                    beyondMask.append(index)
                }
            }
            return true
        }
        self.dropped = dropped
        for index in beyondMask.reversed() {
            self.fields.remove(at: index)
        }
    }

    /// Drops every field named `lowercase` (any case in the block).
    public mutating func remove(name lowercase: StaticString) {
        self.removeAll { name, _ in FramingFacts.equalsLowercase(name, lowercase) }
    }

    /// ASCII case-insensitive equality of a name or token with a lower-case literal (the parser's comparison).
    public static func equals(_ bytes: UnsafeRawBufferPointer, lowercase: StaticString) -> Bool {
        FramingFacts.equalsLowercase(bytes, lowercase)
    }

    /// The fields as `HTTPHeaders`, for code that needs `String`s.
    public var headers: HTTPHeaders {
        var fields: [(String, String)] = []
        fields.reserveCapacity(self.count)
        self.forEach { name, value in
            fields.append((String(decoding: name, as: UTF8.self), String(decoding: value, as: UTF8.self)))
        }
        return HTTPHeaders(fields)
    }

    /// What a writer needs before it reserves room: the fields' encoded size and which framing fields are present.
    func encodingFacts() -> RequestEncodingFacts {
        var facts = RequestEncodingFacts()
        self.visit { _, field, name, value in
            facts.size += field.encodedSize
            switch name.count {
            case 14:
                facts.hasLength = facts.hasLength || FramingFacts.equalsLowercase(name, "content-length")
            case 17 where FramingFacts.equalsLowercase(name, "transfer-encoding"):
                if !facts.hasTransferEncoding { facts.firstCodingIsChunked = value.elementsEqual("chunked".utf8) }
                facts.hasTransferEncoding = true
            default:
                break
            }
            return true
        }
        return facts
    }

    /// Appends each field as `name: value` CRLF, without the framing fields its framing replaces.
    ///
    /// Lines that arrived in that form already (`name: value` CRLF, one space, nothing around the value: nearly every
    /// server writes them so) are copied as they are, consecutive ones in one copy.
    func write(
        into out: inout ByteWriter, droppingLength dropLength: Bool, droppingTransferEncoding dropTransferEncoding: Bool
    ) {
        self.bytes.withUnsafeReadableBytes { bytes in
            var run = 0..<0  // lines to copy at once
            for index in self.fields.indices where !self.isDropped(index) {
                let field = self.fields[index]
                let name = UnsafeRawBufferPointer(rebasing: bytes[field.nameRange])
                if dropLength, FramingFacts.equalsLowercase(name, "content-length") { continue }
                if dropTransferEncoding, FramingFacts.equalsLowercase(name, "transfer-encoding") { continue }
                let nameEnd = field.nameRange.upperBound
                let valueEnd = field.valueRange.upperBound
                let asWritten =
                    field.valueRange.lowerBound == nameEnd + 2 && bytes[nameEnd + 1] == .space
                    && valueEnd + 1 < bytes.count && bytes[valueEnd] == .cr
                if asWritten, run.upperBound == field.nameRange.lowerBound, !run.isEmpty {
                    run = run.lowerBound..<(valueEnd + 2)
                    continue
                }
                out.append(UnsafeRawBufferPointer(rebasing: bytes[run]))
                run = 0..<0
                if asWritten {
                    run = field.nameRange.lowerBound..<(valueEnd + 2)
                } else {
                    out.append(name)
                    out.append(": ")
                    out.append(UnsafeRawBufferPointer(rebasing: bytes[field.valueRange]))
                    out.append("\r\n")
                }
            }
            out.append(UnsafeRawBufferPointer(rebasing: bytes[run]))
        }
    }
}

extension HTTPFieldBlock: Equatable {
    /// The same fields (names and values byte for byte) in the same order, wherever their bytes are.
    public static func == (lhs: HTTPFieldBlock, rhs: HTTPFieldBlock) -> Bool {
        var left: [[UInt8]] = []
        lhs.forEach { name, value in left += [Array(name), Array(value)] }
        var right: [[UInt8]] = []
        rhs.forEach { name, value in right += [Array(name), Array(value)] }
        return left == right
    }
}

/// A response head as the upstream sent it: the status and the field block (`HTTPFieldBlock`). The reason phrase is
/// not kept (known codes get NIO's), as NIO's decoder did.
public struct HTTPReceivedResponseHead: Sendable {
    public var version: HTTPVersion
    public var status: HTTPResponseStatus
    public var fields: HTTPFieldBlock

    public init(version: HTTPVersion, status: HTTPResponseStatus, fields: HTTPFieldBlock) {
        self.version = version
        self.status = status
        self.fields = fields
    }

    /// The same head as NIO's type, its fields as `String`s.
    public var httpResponseHead: HTTPResponseHead {
        HTTPResponseHead(version: self.version, status: self.status, headers: self.fields.headers)
    }
}
