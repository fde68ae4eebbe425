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
            if ByteWriter.name(name, is: "content-length") { hasLength = true }
            if ByteWriter.name(name, is: "transfer-encoding") { hasTransferEncoding = true }
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
            out.appendFields(response.headers, droppingLength: dropLength, droppingTransferEncoding: dropTransferEncoding)
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
        if case .byteBuffer(let small) = data, length <= Self.coalescedChunkLimit {
            return .bytes(Self.framed(length, allocator: allocator, extra: length) { $0.append(small) })
        }
        let prefix = Self.framed(length, allocator: allocator, extra: 0) { _ in }
        var suffix = allocator.buffer(capacity: 2)
        suffix.writeStaticString("\r\n")
        return .chunk(prefix: prefix, data: data, suffix: suffix)
    }

    /// A chunk-size line, then what `content` appends (`extra` bytes), then CRLF when the data is in it.
    private static func framed(
        _ length: Int,
        allocator: ByteBufferAllocator,
        extra: Int,
        content: (inout ByteWriter) -> Void
    ) -> ByteBuffer {
        let size = 20 + extra
        var buffer = allocator.buffer(capacity: size)
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: size) { bytes in
            var out = ByteWriter(bytes)
            out.appendChunkSize(length)
            content(&out)
            if extra > 0 {
                out.append("\r\n")
            }
            return out.count
        }
        return buffer
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

    private static func writeStatusLine(_ response: HTTPResponseHead, into out: inout ByteWriter) {
        out.append(response.version)
        out.append(" ")
        out.appendDecimal(Int(response.status.code))
        out.append(" ")
        out.append(response.status.reasonPhrase)
        out.append("\r\n")
    }
}
