import NIOCore
import NIOHTTP1

/// Encodes a whole request — head and body — into one buffer, framed by the rules of NIO's `HTTPRequestEncoder`
/// (which the pooled upstream connection used before) so the bytes on the wire are the same: a request with
/// `Content-Length` is sent as it is (any `Transfer-Encoding` dropped); a POST, PUT or PATCH without it is
/// chunked on HTTP/1.1; other methods keep the framing fields they came with; TRACE carries neither.
///
/// One buffer, one write: NIO wrote the head, the body and the end as three parts through its encoder.
public enum HTTPRequestWriter {
    public static func request(_ head: HTTPRequestHead, body: ByteBuffer?, allocator: ByteBufferAllocator) -> ByteBuffer {
        Self.request(
            method: head.method, uri: head.uri, version: head.version, fields: head.headers, dropping: 0, adding: [],
            body: body, allocator: allocator)
    }

    /// A request whose fields are another message's (`fields`, without those at the positions set in `dropped`:
    /// bit n drops the nth field) followed by `added`.
    ///
    /// A proxy forwards most of a client's fields: building a filtered copy of them as `HTTPHeaders` first, adding
    /// its own, and encoding the copy cost ~3,500 instructions per request more in bench/profile.
    public static func request(
        method: HTTPMethod, uri: String, version: HTTPVersion, fields: HTTPHeaders, dropping dropped: UInt64,
        adding added: [(name: String, value: String)], body: ByteBuffer?, allocator: ByteBufferAllocator
    ) -> ByteBuffer {
        var hasLength = false
        var hasTransferEncoding = false
        var firstCodingIsChunked = false
        let methodName = method.rawValue
        // method SP target SP "HTTP/x.y" CRLF, each field + ": " + CRLF, "transfer-encoding: chunked" + CRLF, CRLF,
        // and the body with a chunk-size line and the last chunk around it (32 spare for the version's digits).
        let bodyLength = body?.readableBytes ?? 0
        var size = methodName.utf8.count + uri.utf8.count + 12 + 28 + 2 + bodyLength + 20 + 5 + 32
        func note(_ name: String, _ value: String) {
            size += name.utf8.count + value.utf8.count + 4
            if ByteWriter.name(name, is: "content-length") {
                hasLength = true
            } else if ByteWriter.name(name, is: "transfer-encoding") {
                if !hasTransferEncoding { firstCodingIsChunked = value == "chunked" }
                hasTransferEncoding = true
            }
        }
        for (index, (name, value)) in fields.enumerated() where !Self.isDropped(index, dropped) {
            note(name, value)
        }
        for (name, value) in added {
            note(name, value)
        }
        let http11 = version.major == 1 && version.minor >= 1
        let dropLength: Bool
        let dropTransferEncoding: Bool
        let chunked: Bool
        switch method {
        case .TRACE:
            (dropLength, dropTransferEncoding, chunked) = (true, hasTransferEncoding, false)
        case .POST, .PUT, .PATCH:
            // `replaceOrAdd`: any Transfer-Encoding field gives way to one `chunked` at the end.
            chunked = !hasLength && http11
            (dropLength, dropTransferEncoding) = (false, hasTransferEncoding && (hasLength || chunked))
        default:
            chunked = !hasLength && http11 && firstCodingIsChunked
            (dropLength, dropTransferEncoding) = (false, hasTransferEncoding && hasLength)
        }
        let addChunked = chunked && method.sendsBody

        var buffer = allocator.buffer(capacity: size)
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: size) { bytes in
            var out = ByteWriter(bytes)
            out.append(string: methodName)
            out.append(" ")
            out.append(string: uri)
            out.append(" ")
            out.append(version)
            out.append("\r\n")
            for (index, (name, value)) in fields.enumerated() where !Self.isDropped(index, dropped) {
                out.appendField(name, value, droppingLength: dropLength, droppingTransferEncoding: dropTransferEncoding)
            }
            for (name, value) in added {
                out.appendField(name, value, droppingLength: dropLength, droppingTransferEncoding: dropTransferEncoding)
            }
            if addChunked {
                out.append("transfer-encoding: chunked\r\n")
            }
            out.append("\r\n")
            if let body, bodyLength > 0 {
                if chunked {
                    out.appendChunkSize(bodyLength)
                    out.append(body)
                    out.append("\r\n")
                } else {
                    out.append(body)
                }
            }
            if chunked {
                out.append("0\r\n\r\n")
            }
            return out.count
        }
        return buffer
    }

    private static func isDropped(_ index: Int, _ dropped: UInt64) -> Bool {
        index < 64 && dropped & (1 << UInt64(index)) != 0
    }
}
