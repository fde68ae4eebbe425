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
        var buffer = allocator.buffer(capacity: 512)
        Self.encode(
            method: head.method, uri: head.uri, version: head.version, fields: head.headers, adding: HTTPAddedFields(),
            body: body, into: &buffer)
        return buffer
    }

    /// A request whose fields are another message's as they arrived (`fields`, less those dropped from the block),
    /// followed by the fields `added`.
    ///
    /// A proxy forwards most of a client's fields: turning them into `String`s, filtering a copy as `HTTPHeaders`
    /// and encoding that again cost ~5,000 instructions per request in bench/profile; the block's lines are copied.
    public static func request(
        method: HTTPMethod, uri: String, version: HTTPVersion, fields: HTTPFieldBlock,
        adding added: HTTPAddedFields, body: ByteBuffer?, allocator: ByteBufferAllocator
    ) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: 512)
        Self.encode(
            method: method, uri: uri, version: version, fields: fields, adding: added, body: body, into: &buffer)
        return buffer
    }

    /// The same request, appended to `buffer` (one the caller reuses).
    public static func request(
        method: HTTPMethod, uri: String, version: HTTPVersion, fields: HTTPFieldBlock,
        adding added: HTTPAddedFields, body: ByteBuffer?, into buffer: inout ByteBuffer
    ) {
        Self.encode(method: method, uri: uri, version: version, fields: fields, adding: added, body: body, into: &buffer)
    }

    private static func encode<Fields: RequestFieldSource>(
        method: HTTPMethod, uri: String, version: HTTPVersion, fields: Fields,
        adding added: HTTPAddedFields, body: ByteBuffer?, into buffer: inout ByteBuffer
    ) {
        var facts = fields.requestEncodingFacts()
        facts.size += added.maximumSize
        facts.hasLength = facts.hasLength || added.contentLength != nil
        let methodName = method.rawValue
        // method SP target SP "HTTP/x.y" CRLF, the fields, "transfer-encoding: chunked" + CRLF, CRLF, and the body
        // with a chunk-size line and the last chunk around it (32 spare for the version's digits).
        let bodyLength = body?.readableBytes ?? 0
        let size = methodName.utf8.count + uri.utf8.count + 12 + facts.size + 28 + 2 + bodyLength + 20 + 5 + 32
        let http11 = version.major == 1 && version.minor >= 1
        let dropLength: Bool
        let dropTransferEncoding: Bool
        let chunked: Bool
        switch method {
        case .TRACE:
            (dropLength, dropTransferEncoding, chunked) = (true, facts.hasTransferEncoding, false)
        case .POST, .PUT, .PATCH:
            // `replaceOrAdd`: any Transfer-Encoding field gives way to one `chunked` at the end.
            chunked = !facts.hasLength && http11
            (dropLength, dropTransferEncoding) = (false, facts.hasTransferEncoding && (facts.hasLength || chunked))
        default:
            chunked = !facts.hasLength && http11 && facts.firstCodingIsChunked
            (dropLength, dropTransferEncoding) = (false, facts.hasTransferEncoding && facts.hasLength)
        }
        let addChunked = chunked && method.sendsBody

        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: size) { bytes in
            var out = ByteWriter(bytes)
            out.append(string: methodName)
            out.append(" ")
            out.append(string: uri)
            out.append(" ")
            out.append(version)
            out.append("\r\n")
            fields.write(into: &out, droppingLength: dropLength, droppingTransferEncoding: dropTransferEncoding)
            added.write(into: &out, droppingLength: dropLength)
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
    }
}

/// What a request's fields tell the writer before it reserves room, and how they are written.
struct RequestEncodingFacts {
    /// The fields' encoded size (`name: value` CRLF each).
    var size = 0
    var hasLength = false
    var hasTransferEncoding = false
    /// The first `Transfer-Encoding` value is `chunked` exactly (NIO's encoder keeps such a GET's framing).
    var firstCodingIsChunked = false

    /// Counts a field given as `String`s.
    mutating func note(name: String, value: String) {
        self.size += name.utf8.count + value.utf8.count + 4
        if ByteWriter.name(name, is: "content-length") {
            self.hasLength = true
        } else if ByteWriter.name(name, is: "transfer-encoding") {
            if !self.hasTransferEncoding { self.firstCodingIsChunked = value == "chunked" }
            self.hasTransferEncoding = true
        }
    }
}

/// The fields a request is written with: a received block's, or `HTTPHeaders`.
protocol RequestFieldSource {
    func requestEncodingFacts() -> RequestEncodingFacts
    func write(into out: inout ByteWriter, droppingLength: Bool, droppingTransferEncoding: Bool)
}

extension HTTPFieldBlock: RequestFieldSource {
    func requestEncodingFacts() -> RequestEncodingFacts {
        self.encodingFacts()
    }
}

extension HTTPHeaders: RequestFieldSource {
    func requestEncodingFacts() -> RequestEncodingFacts {
        var facts = RequestEncodingFacts()
        for (name, value) in self {
            facts.note(name: name, value: value)
        }
        return facts
    }

    func write(into out: inout ByteWriter, droppingLength: Bool, droppingTransferEncoding: Bool) {
        out.appendFields(self, droppingLength: droppingLength, droppingTransferEncoding: droppingTransferEncoding)
    }
}
