import NIOCore
import NIOHTTP1

/// Appends to bytes reserved in a `ByteBuffer`; the caller reserved enough for everything it appends.
struct ByteWriter {
    private let bytes: UnsafeMutableRawBufferPointer
    private(set) var count = 0

    init(_ bytes: UnsafeMutableRawBufferPointer) {
        self.bytes = bytes
    }

    // The appends are inlined: a literal's length is then a constant and its copy a few moves (a call per piece
    // cost ~36 instructions, ~20 pieces per request in bench/profile).
    @inline(__always)
    mutating func append(_ text: StaticString) {
        self.append(UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    /// A `String`'s bytes. (Not an overload of `append(_: StaticString)`: a literal would pick this one, the
    /// default literal type, and pay for a `String` per call.)
    mutating func append(string text: String) {
        var text = text
        text.withUTF8 { self.append(UnsafeRawBufferPointer($0)) }
    }

    /// `HTTP/1.1`, or the digits of another version.
    mutating func append(_ version: HTTPVersion) {
        if version == .http1_1 {
            self.append("HTTP/1.1")
        } else {
            self.append("HTTP/")
            self.appendDecimal(version.major)
            self.append(".")
            self.appendDecimal(version.minor)
        }
    }

    mutating func appendDecimal(_ value: Int) {
        var digits = 1
        var rest = value / 10
        while rest > 0 {
            digits += 1
            rest /= 10
        }
        var remaining = value
        for index in stride(from: self.count + digits - 1, through: self.count, by: -1) {
            self.bytes[index] = UInt8(ascii: "0") + UInt8(remaining % 10)
            remaining /= 10
        }
        self.count += digits
    }

    /// The fields of a head, without the framing fields its framing replaces.
    mutating func appendFields(
        _ headers: HTTPHeaders,
        droppingLength dropLength: Bool,
        droppingTransferEncoding dropTransferEncoding: Bool
    ) {
        for (name, value) in headers {
            self.appendField(name, value, droppingLength: dropLength, droppingTransferEncoding: dropTransferEncoding)
        }
    }

    /// `name: value` CRLF, unless it is a framing field the framing replaces.
    mutating func appendField(
        _ name: String, _ value: String, droppingLength dropLength: Bool, droppingTransferEncoding dropTransferEncoding: Bool
    ) {
        if dropLength, Self.name(name, is: "content-length") { return }
        if dropTransferEncoding, Self.name(name, is: "transfer-encoding") { return }
        self.append(string: name)
        self.append(": ")
        self.append(string: value)
        self.append("\r\n")
    }

    mutating func appendChunkSize(_ length: Int) {
        var shift = (Int.bitWidth - length.leadingZeroBitCount + 3) / 4 * 4 - 4
        while shift >= 0 {
            let digit = UInt8((length >> shift) & 0xF)
            self.append(byte: digit < 10 ? UInt8(ascii: "0") + digit : UInt8(ascii: "a") + digit - 10)
            shift -= 4
        }
        self.append("\r\n")
    }

    @inline(__always)
    mutating func append(byte: UInt8) {
        precondition(self.count < self.bytes.count, "head larger than reserved")
        self.bytes[self.count] = byte
        self.count += 1
    }

    mutating func append(_ buffer: ByteBuffer) {
        buffer.withUnsafeReadableBytes { self.append($0) }
    }

    @inline(__always)
    mutating func append(_ source: UnsafeRawBufferPointer) {
        precondition(self.count + source.count <= self.bytes.count, "head larger than reserved")
        guard source.count > 0, let base = source.baseAddress else { return }
        (self.bytes.baseAddress! + self.count).copyMemory(from: base, byteCount: source.count)
        self.count += source.count
    }

    /// ASCII case-insensitive comparison with a lowercase field name, without lowercasing a copy (the parser's
    /// `FramingFacts.equalsLowercase`, on a `String`'s bytes).
    static func name(_ name: String, is lowercase: StaticString) -> Bool {
        guard name.utf8.count == lowercase.utf8CodeUnitCount else { return false }
        var name = name
        return name.withUTF8 { FramingFacts.equalsLowercase(UnsafeRawBufferPointer($0), lowercase) }
    }
}
