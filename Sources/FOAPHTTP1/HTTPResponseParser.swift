import NIOCore
import NIOHTTP1

/// An HTTP/1.1 response parser (RFC 9112) for a client connection that sends one request at a time: the
/// pooled upstream connection. It replaces NIO's `HTTPResponseDecoder` (llhttp) there, with llhttp's strict
/// rules: one `Content-Length` of digits, never next to `Transfer-Encoding`, CRLF line ends, no obs-fold, no
/// control bytes in values, no framing fields among trailers. What it delivers is compared with llhttp on a
/// corpus (`HTTPResponseCorpusTests`) and by a differential fuzzer (`Fuzz/`, `scripts/fuzz-http-parser`).
///
/// The body's length follows RFC 9112 §6.3: none for the answer to a `HEAD` and for 1xx, 204 and 304; chunked
/// when `chunked` is the final coding; `Content-Length`; otherwise everything until the upstream closes
/// (`endOfInput()`). Interim 1xx heads are skipped, as NIO's decoder did; a 101 stops parsing.
public struct HTTPResponseParser {
    /// A part of the response stream: NIO's `HTTPClientResponsePart`, but the head keeps its fields as bytes.
    public enum Part: Sendable {
        case head(HTTPReceivedResponseHead)
        case body(ByteBuffer)
        case end(HTTPHeaders?)

        /// The same part as NIO's type (the head's fields as `String`s).
        public var nioPart: HTTPClientResponsePart {
            switch self {
            case .head(let head): return .head(head.httpResponseHead)
            case .body(let buffer): return .body(buffer)
            case .end(let trailers): return .end(trailers)
            }
        }
    }

    private enum State {
        case head(scanned: Int)
        case body(remaining: UInt64)
        case untilClose
        case chunked(ChunkedBodyReader)
        case end
        /// An interim answer said the connection closes: nothing but line ends may follow (llhttp's rule).
        case closed
        case upgraded
        case failed
    }

    private var state = State.head(scanned: 0)
    private var requestMethod = HTTPMethod.GET
    private var upgradeAfterEnd = false
    public let limits: HTTPParserLimits
    /// Whether the connection stays open after the last response whose head was returned (its `Connection`
    /// field and version), known from the same pass as the head: `HTTPHeaders.isKeepAlive` would scan again.
    public private(set) var keepsAlive = true

    public init(limits: HTTPParserLimits = .init()) {
        self.limits = limits
    }

    /// The method of the request the next response answers (a `HEAD`'s answer has no body).
    public mutating func expectResponse(to method: HTTPMethod) {
        self.requestMethod = method
    }

    /// Whether a response is under way: its head was returned and its end was not.
    public var isInsideResponse: Bool {
        switch self.state {
        case .head, .closed, .upgraded, .failed: return false
        default: return true
        }
    }

    /// The next part of the response stream in `buffer`, consuming its bytes; nil when more bytes are needed.
    /// A thrown error is final.
    public mutating func nextPart(from buffer: inout ByteBuffer) throws(HTTPParserError) -> Part? {
        do {
            return try self.parseNextPart(from: &buffer)
        } catch {
            self.state = .failed
            throw error
        }
    }

    /// The end of a response whose last byte was already consumed.
    public mutating func pendingEnd() -> Part? {
        guard case .end = self.state else { return nil }
        self.state = self.upgradeAfterEnd ? .upgraded : .head(scanned: 0)
        self.upgradeAfterEnd = false
        return .end(nil)
    }

    /// The upstream closed its side: the end of a body delimited by the close, or nil (a response cut short is
    /// the caller's to report; nothing is pending outside a response).
    public mutating func endOfInput() -> Part? {
        guard case .untilClose = self.state else { return nil }
        self.state = .head(scanned: 0)
        return .end(nil)
    }

    private mutating func parseNextPart(from buffer: inout ByteBuffer) throws(HTTPParserError) -> Part? {
        switch self.state {
        case .head(let scanned):
            return try self.parseHead(from: &buffer, scanned: scanned)
        case .body(let remaining):
            guard let (slice, left) = HTTPMessageFraming.bodySlice(of: &buffer, remaining: remaining) else { return nil }
            self.state = left == 0 ? .end : .body(remaining: left)
            return .body(slice)
        case .untilClose:
            guard buffer.readableBytes > 0 else { return nil }
            return .body(buffer.readSlice(length: buffer.readableBytes)!)
        case .chunked(var reader):
            let piece = try reader.next(from: &buffer, limits: self.limits)
            switch piece {
            case nil:
                self.state = .chunked(reader)
                return nil
            case .data(let slice):
                self.state = .chunked(reader)
                return .body(slice)
            case .end(let trailers):
                self.state = .head(scanned: 0)
                return .end(trailers)
            }
        case .end:
            return self.pendingEnd()
        case .closed:
            try HTTPMessageFraming.skipLineEnds(in: &buffer)
            return nil
        case .upgraded, .failed:
            return nil
        }
    }

    private mutating func parseHead(from buffer: inout ByteBuffer, scanned: Int) throws(HTTPParserError) -> Part? {
        guard let length = try HTTPMessageFraming.headLength(in: &buffer, scanned: scanned, limits: self.limits) else {
            self.state = .head(scanned: HTTPMessageFraming.scanned(buffer))
            return nil
        }
        // Taken apart at once: reading the members of the returned tuple one by one copied it whole each time.
        let (version, status, fieldPositions, facts) = try buffer.withUnsafeReadableBytes {
            bytes throws(HTTPParserError) in
            var reader = HTTPHeadReader(bytes: UnsafeRawBufferPointer(rebasing: bytes[..<length]), limits: self.limits)
            return try reader.readResponse()
        }
        // The field positions count from the head's first byte: the block shares the read buffer's storage.
        let headBytes = buffer.readSlice(length: length)!
        let code = status.code
        if code >= 100 && code < 200 && code != 101 {
            // An interim answer (100 Continue, 103 Early Hints): skipped; the final head follows, unless the interim
            // one closes the connection (an HTTP/1.0 one, or `Connection: close`), after which nothing may.
            guard facts.keepsAlive(minorVersion: version.minor) else {
                self.state = .closed
                return try self.parseNextPart(from: &buffer)
            }
            self.state = .head(scanned: 0)
            return try self.parseHead(from: &buffer, scanned: 0)
        }
        let framing = try facts.framing()
        self.keepsAlive = facts.keepsAlive(minorVersion: version.minor)
        if code == 101 {
            self.upgradeAfterEnd = true
            self.state = .end
        } else if self.requestMethod.isHEAD || code == 204 || code == 304 {
            self.state = .end
        } else {
            switch framing {
            case .none: self.state = .untilClose
            case .length(let length): self.state = length == 0 ? .end : .body(remaining: length)
            case .chunked: self.state = .chunked(ChunkedBodyReader())
            }
        }
        let fields = HTTPFieldBlock(bytes: headBytes, fields: fieldPositions)
        return .head(HTTPReceivedResponseHead(version: version, status: status, fields: fields))
    }
}
