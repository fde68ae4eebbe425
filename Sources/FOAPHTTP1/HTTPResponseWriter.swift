import NIOCore
import NIOHTTP1

/// Encodes the responses of one connection (RFC 9112), with the framing rules of NIO's `HTTPResponseEncoder`
/// (configured by `configureHTTPServerPipeline`, as the client connection was before) so the bytes on the wire
/// are the same: a response with `Content-Length` is sent as it is (any `Transfer-Encoding` dropped), one without
/// it is chunked on HTTP/1.1 and close-delimited on HTTP/1.0, and a 1xx, 204 or 304 carries neither field. The
/// answer to a `HEAD` (or `CONNECT`) keeps its framing fields but no body.
struct HTTPResponseWriter {
    enum Output {
        /// Bytes to write.
        case bytes(ByteBuffer)
        /// A body part sent as it is.
        case data(IOData)
        /// A chunk: its size line, the data, and CRLF.
        case chunk(prefix: ByteBuffer, data: IOData, suffix: ByteBuffer)
        /// Nothing to write (the body of a HEAD answer, the end of a sized one).
        case nothing
    }

    /// Methods of the requests read but not yet answered, in order.
    private var pendingMethods = CircularBuffer<HTTPMethod>(initialCapacity: 4)
    private var isChunked = false
    private var suppressBody = false

    /// Chunks up to this size are copied into one buffer with their framing: one write instead of three (the
    /// events of a stream are small).
    private static let coalescedChunkLimit = 4096

    mutating func requestRead(_ method: HTTPMethod) {
        self.pendingMethods.append(method)
    }

    mutating func head(_ response: HTTPResponseHead, allocator: ByteBufferAllocator) -> ByteBuffer {
        let code = response.status.code
        let interim = code >= 100 && code < 200 && code != 101
        var respondingToConnect = false
        if !interim, let method = self.pendingMethods.popFirst() {
            self.suppressBody = method == .HEAD || method == .CONNECT
            respondingToConnect = method == .CONNECT
        }
        let hasBody = !respondingToConnect && response.status.mayHaveResponseBody
        var hasLength = false
        var hasTransferEncoding = false
        // "HTTP/x.y NNN " + reason + CRLF, each field + ": " + CRLF, "transfer-encoding: chunked" + CRLF, CRLF.
        // (32 spare for a version or code of more digits.)
        var size = 13 + response.status.reasonPhrase.utf8.count + 2 + 28 + 2 + 32
        for (name, value) in response.headers {
            size += name.utf8.count + value.utf8.count + 4
            if Self.name(name, is: "content-length") { hasLength = true }
            if Self.name(name, is: "transfer-encoding") { hasTransferEncoding = true }
        }
        // NIO's rules (`correctlyFrameTransportHeaders`): which framing fields stay and whether to chunk.
        let dropLength = !hasBody
        let dropTransferEncoding = hasTransferEncoding && (!hasBody || hasLength || response.version.minor >= 1)
        let chunked = hasBody && !hasLength && response.version.major == 1 && response.version.minor >= 1
        self.isChunked = chunked && !self.suppressBody

        // One write into reserved bytes: ByteBuffer's string writes are calls into another module with their own
        // capacity checks (~250 instructions each, two dozen per head).
        var buffer = allocator.buffer(capacity: size)
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: size) { bytes in
            var out = ByteWriter(bytes)
            Self.writeStatusLine(response, into: &out)
            for (name, value) in response.headers {
                if dropLength, Self.name(name, is: "content-length") { continue }
                if dropTransferEncoding, Self.name(name, is: "transfer-encoding") { continue }
                out.append(name)
                out.append(": ")
                out.append(value)
                out.append("\r\n")
            }
            if chunked {
                out.append("transfer-encoding: chunked\r\n")
            }
            out.append("\r\n")
            return out.count
        }
        return buffer
    }

    /// The bytes of a body part; nil when the response may not have a body (the part is refused).
    func body(_ data: IOData, allocator: ByteBufferAllocator) -> Output? {
        if self.suppressBody {
            return nil
        }
        guard self.isChunked, data.readableBytes > 0 else {
            return .data(data)
        }
        let length = data.readableBytes
        if case .byteBuffer(var small) = data, length <= Self.coalescedChunkLimit {
            var buffer = allocator.buffer(capacity: length + 20)
            Self.writeChunkSize(length, into: &buffer)
            buffer.writeBuffer(&small)
            buffer.writeStaticString("\r\n")
            return .bytes(buffer)
        }
        var prefix = allocator.buffer(capacity: 20)
        Self.writeChunkSize(length, into: &prefix)
        var suffix = allocator.buffer(capacity: 2)
        suffix.writeStaticString("\r\n")
        return .chunk(prefix: prefix, data: data, suffix: suffix)
    }

    mutating func end(_ trailers: HTTPHeaders?, allocator: ByteBufferAllocator) -> Output {
        self.suppressBody = false
        guard self.isChunked else { return .nothing }
        self.isChunked = false
        guard let trailers else {
            var buffer = allocator.buffer(capacity: 5)
            buffer.writeStaticString("0\r\n\r\n")
            return .bytes(buffer)
        }
        var buffer = allocator.buffer(capacity: 256)
        buffer.writeStaticString("0\r\n")
        for (name, value) in trailers {
            buffer.writeString(name)
            buffer.writeStaticString(": ")
            buffer.writeString(value)
            buffer.writeStaticString("\r\n")
        }
        buffer.writeStaticString("\r\n")
        return .bytes(buffer)
    }

    /// ASCII case-insensitive comparison with a lowercase field name, without lowercasing a copy.
    private static func name(_ name: String, is lowercase: StaticString) -> Bool {
        guard name.utf8.count == lowercase.utf8CodeUnitCount else { return false }
        let expected = lowercase.utf8Start
        var index = 0
        for byte in name.utf8 {
            if byte | 0x20 != expected[index] { return false }
            index += 1
        }
        return true
    }

    private static func writeStatusLine(_ response: HTTPResponseHead, into out: inout ByteWriter) {
        if response.version == .http1_1 {
            out.append("HTTP/1.1 ")
        } else {
            out.append("HTTP/")
            out.appendDecimal(response.version.major)
            out.append(".")
            out.appendDecimal(response.version.minor)
            out.append(" ")
        }
        out.appendDecimal(Int(response.status.code))
        out.append(" ")
        out.append(response.status.reasonPhrase)
        out.append("\r\n")
    }

    private static func writeChunkSize(_ length: Int, into buffer: inout ByteBuffer) {
        var shift = (Int.bitWidth - length.leadingZeroBitCount + 3) / 4 * 4 - 4
        while shift >= 0 {
            let digit = UInt8((length >> shift) & 0xF)
            buffer.writeInteger(digit < 10 ? UInt8(ascii: "0") + digit : UInt8(ascii: "a") + digit - 10)
            shift -= 4
        }
        buffer.writeStaticString("\r\n")
    }
}

/// Appends to bytes reserved in a `ByteBuffer`; the caller reserved enough for everything it appends.
private struct ByteWriter {
    private let bytes: UnsafeMutableRawBufferPointer
    private(set) var count = 0

    init(_ bytes: UnsafeMutableRawBufferPointer) {
        self.bytes = bytes
    }

    mutating func append(_ text: StaticString) {
        self.append(UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    mutating func append(_ text: String) {
        var text = text
        text.withUTF8 { self.append(UnsafeRawBufferPointer($0)) }
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

    private mutating func append(_ source: UnsafeRawBufferPointer) {
        precondition(self.count + source.count <= self.bytes.count, "head larger than reserved")
        UnsafeMutableRawBufferPointer(rebasing: self.bytes[self.count...]).copyMemory(from: source)
        self.count += source.count
    }
}
