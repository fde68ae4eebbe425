import NIOCore
import NIOHTTP1

/// Encodes the responses of one client connection (RFC 9112) with the framing rules of NIO's
/// `HTTPResponseEncoder` (configured by `configureHTTPServerPipeline`, which the client connection used before),
/// so the bytes on the wire are the same: a response with `Content-Length` is sent as it is (any
/// `Transfer-Encoding` dropped), one without it is chunked on HTTP/1.1 and close-delimited on HTTP/1.0, and a 1xx,
/// 204 or 304 carries neither field. The answer to a `HEAD` (or `CONNECT`) keeps its framing fields but no body.
///
/// Every part is appended to a buffer the caller owns, so a head, a small body and the end can leave in one write:
/// NIO's encoder wrote each part on its own, with a call into ByteBuffer per string (~10,000 instructions per
/// response in bench/profile).
public struct HTTPResponseWriter {
    /// What became of a body part.
    public enum BodyOutput {
        /// Appended to the buffer, framing included.
        case appended
        /// Too large to copy: the caller writes `data` itself, after the buffer (which now ends with the chunk's
        /// size line when chunked) and before `suffix` (the chunk's CRLF, when chunked).
        case separate(data: IOData, suffix: StaticString?)
        /// The response may not have a body (the answer to a HEAD request): nothing written.
        case refused
    }

    /// Methods of the requests read but not answered yet, in order.
    private var pendingMethods = CircularBuffer<HTTPMethod>(initialCapacity: 2)
    private var isChunked = false
    private var suppressBody = false

    public init() {}

    /// A request arrived: its answer's framing depends on its method.
    public mutating func requestRead(_ method: HTTPMethod) {
        self.pendingMethods.append(method)
    }

    /// Appends `response`'s head to `buffer`; `relayed` fields (an upstream's, as received) come before the head's own.
    public mutating func writeHead(
        _ response: HTTPResponseHead, relaying relayed: HTTPFieldBlock? = nil, into buffer: inout ByteBuffer
    ) {
        let code = response.status.code
        let interim = code >= 100 && code < 200 && code != 101
        var respondingToConnect = false
        if !interim, let method = self.pendingMethods.popFirst() {
            self.suppressBody = method.isHEAD || method.isCONNECT
            respondingToConnect = method.isCONNECT
        }
        let hasBody = !respondingToConnect && response.status.mayHaveResponseBody
        let reasonPhrase = response.status.reasonPhrase
        // One pass over the fields for their size and the framing fields among them: each visit of an
        // `HTTPHeaders` entry costs a copy of its two strings.
        // "HTTP/x.y NNN " + reason + CRLF, each field + ": " + CRLF, "transfer-encoding: chunked" + CRLF, CRLF
        // (32 spare for a version or code of more digits).
        var size = 13 + reasonPhrase.utf8.count + 2 + 28 + 2 + 32
        var hasLength = false
        var hasTransferEncoding = false
        if let relayed {
            let facts = relayed.encodingFacts()
            size += facts.size
            hasLength = facts.hasLength
            hasTransferEncoding = facts.hasTransferEncoding
        }
        for (name, value) in response.headers {
            size += name.utf8.count + value.utf8.count + 4
            if ByteWriter.name(name, is: "content-length") {
                hasLength = true
            } else if ByteWriter.name(name, is: "transfer-encoding") {
                hasTransferEncoding = true
            }
        }
        // NIO's rules (`correctlyFrameTransportHeaders`): which framing fields stay and whether to chunk.
        let dropLength = !hasBody
        let dropTransferEncoding = hasTransferEncoding && (!hasBody || hasLength || response.version.minor >= 1)
        let chunked = hasBody && !hasLength && response.version.major == 1 && response.version.minor >= 1
        self.isChunked = chunked && !self.suppressBody

        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: size) { bytes in
            var out = ByteWriter(bytes)
            out.append(response.version)
            out.append(" ")
            out.appendDecimal(Int(response.status.code))
            out.append(" ")
            out.append(string: reasonPhrase)
            out.append("\r\n")
            relayed?.write(into: &out, droppingLength: dropLength, droppingTransferEncoding: dropTransferEncoding)
            out.appendFields(response.headers, droppingLength: dropLength, droppingTransferEncoding: dropTransferEncoding)
            if chunked {
                out.append("transfer-encoding: chunked\r\n")
            }
            out.append("\r\n")
            return out.count
        }
    }

    /// Appends a body part (framed as a chunk when the response is chunked) when it is at most `copyLimit` bytes;
    /// a larger one is left to the caller (see `BodyOutput.separate`).
    public func writeBody(_ data: IOData, into buffer: inout ByteBuffer, copyLimit: Int) -> BodyOutput {
        if self.suppressBody {
            return .refused
        }
        let length = data.readableBytes
        guard length > 0 else {
            return .appended  // an empty chunk would end a chunked body
        }
        guard case .byteBuffer(let part) = data, length <= copyLimit else {
            if self.isChunked {
                Self.writeChunkSize(length, into: &buffer)
                return .separate(data: data, suffix: "\r\n")
            }
            return .separate(data: data, suffix: nil)
        }
        let framing = self.isChunked ? 20 : 0
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: length + framing) { bytes in
            var out = ByteWriter(bytes)
            if self.isChunked {
                out.appendChunkSize(length)
            }
            out.append(part)
            if self.isChunked {
                out.append("\r\n")
            }
            return out.count
        }
        return .appended
    }

    /// Appends the end of the response: the last chunk and any trailers when chunked, nothing otherwise.
    public mutating func writeEnd(_ trailers: HTTPHeaders?, into buffer: inout ByteBuffer) {
        self.suppressBody = false
        guard self.isChunked else { return }
        self.isChunked = false
        buffer.writeStaticString("0\r\n")
        for (name, value) in trailers ?? [:] {
            buffer.writeString(name)
            buffer.writeStaticString(": ")
            buffer.writeString(value)
            buffer.writeStaticString("\r\n")
        }
        buffer.writeStaticString("\r\n")
    }

    private static func writeChunkSize(_ length: Int, into buffer: inout ByteBuffer) {
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: 20) { bytes in
            var out = ByteWriter(bytes)
            out.appendChunkSize(length)
            return out.count
        }
    }
}
