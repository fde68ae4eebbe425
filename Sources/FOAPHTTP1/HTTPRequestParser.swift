import NIOCore
import NIOHTTP1

/// An HTTP/1.1 request parser (RFC 9112) that reads straight from the connection's `ByteBuffer`.
///
/// It replaces llhttp (through NIO's `HTTPRequestDecoder` and `ByteToMessageHandler`) on the client connection,
/// inside the connection handler itself: a request head is found whole, then parsed in one pass that also collects
/// the framing facts, so no callback per token, no second scan of the headers and no pipeline hop per part. It is strict where leniency lets requests be smuggled past or
/// through another hop: one `Content-Length` and only digits in it, no `Content-Length` next to
/// `Transfer-Encoding`, `chunked` last (and a request with any other final coding refused), CRLF line ends only,
/// no obs-fold, no whitespace before a header's colon, no control characters in the target or in values. What
/// it accepts and refuses is compared with llhttp on a shared corpus in the tests (`HTTPParserCorpusTests`).
public struct HTTPRequestParser {
    /// NIO's request parts, with the head's fields kept as the bytes they arrived in (`HTTPReceivedRequestHead`).
    public enum Part {
        case head(HTTPReceivedRequestHead)
        case body(ByteBuffer)
        case end(HTTPHeaders?)

        /// The same part as NIO's type (the head's fields as `String`s).
        public var nioPart: HTTPServerRequestPart {
            switch self {
            case .head(let head): return .head(head.httpRequestHead)
            case .body(let buffer): return .body(buffer)
            case .end(let trailers): return .end(trailers)
            }
        }
    }

    private enum State {
        /// Before or inside a request head; `scanned` bytes of it were searched for its end already.
        case head(scanned: Int)
        case body(remaining: UInt64)
        case chunked(ChunkedBodyReader)
        /// A message ends here (returned on the next call, so a head is never followed by an end in one call).
        case end
        /// The last request closes the connection: only line ends may follow it (llhttp's rule).
        case closed
        /// The request switched protocols (an upgrade or CONNECT): the bytes that follow are not HTTP.
        case upgraded
        case failed
    }

    /// A head arriving in a read buffer larger than this is copied out of it (see `parseHead`).
    static let sharedReadBufferLimit = 4096

    private var state = State.head(scanned: 0)
    private var upgradeAfterEnd = false
    private var closeAfterEnd = false
    public let limits: HTTPParserLimits
    /// Whether the connection stays open after the request whose head was returned last (its `Connection` field
    /// and version), known from the parser's own pass: `HTTPHeaders.isKeepAlive` would scan the fields again.
    public private(set) var keepsAlive = true

    public init(limits: HTTPParserLimits = .init()) {
        self.limits = limits
    }

    /// Whether parsing stopped for good: the bytes after the last message belong to another protocol, or the
    /// stream was refused. Nothing more will be read from it.
    public var hasStopped: Bool {
        switch self.state {
        case .upgraded, .failed: return true
        default: return false
        }
    }

    /// The next part of the request stream in `buffer`, consuming its bytes; nil when more bytes are needed (or
    /// parsing stopped after an upgrade). A thrown error is final: the stream cannot be trusted past it.
    public mutating func nextPart(from buffer: inout ByteBuffer) throws(HTTPParserError) -> Part? {
        do {
            return try self.parseNextPart(from: &buffer)
        } catch {
            self.state = .failed
            throw error
        }
    }

    /// The end of a message whose last byte was already consumed (a request without a body), which needs no
    /// more bytes to be returned.
    public mutating func pendingEnd() -> Part? {
        guard case .end = self.state else { return nil }
        self.state = self.stateAfterEnd()
        return .end(nil)
    }

    private mutating func stateAfterEnd() -> State {
        defer {
            self.upgradeAfterEnd = false
            self.closeAfterEnd = false
        }
        if self.upgradeAfterEnd { return .upgraded }
        return self.closeAfterEnd ? .closed : .head(scanned: 0)
    }

    private mutating func parseNextPart(from buffer: inout ByteBuffer) throws(HTTPParserError) -> Part? {
        switch self.state {
        case .head(let scanned):
            return try self.parseHead(from: &buffer, scanned: scanned)
        case .body(let remaining):
            guard let (slice, left) = HTTPMessageFraming.bodySlice(of: &buffer, remaining: remaining) else {
                return nil
            }
            self.state = left == 0 ? .end : .body(remaining: left)
            return .body(slice)
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
                self.state = self.stateAfterEnd()
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
        guard let headLength = try HTTPMessageFraming.headLength(in: &buffer, scanned: scanned, limits: self.limits)
        else {
            self.state = .head(scanned: HTTPMessageFraming.scanned(buffer))
            return nil
        }
        // Taken apart at once: reading the members of the returned tuple one by one copied it whole each time.
        let (method, uri, version, fields, facts) = try buffer.withUnsafeReadableBytes {
            bytes throws(HTTPParserError) in
            var reader = HTTPHeadReader(bytes: UnsafeRawBufferPointer(rebasing: bytes[..<headLength]), limits: self.limits)
            return try reader.readRequest()
        }
        // The field positions count from the head's first byte. The block keeps those bytes for the request's life
        // (a stream can last minutes): a slice of a small read buffer, or a copy out of a large one, which it would
        // otherwise keep whole (a read buffer grown for a large body is up to 64 KiB).
        var headBytes = buffer.readSlice(length: headLength)!
        if buffer.capacity > Self.sharedReadBufferLimit {
            var copy = ByteBufferAllocator().buffer(capacity: headLength)
            copy.writeImmutableBuffer(headBytes)
            headBytes = copy
        }
        let framing = try facts.requestFraming()
        self.upgradeAfterEnd = facts.upgrades || method.isCONNECT
        self.keepsAlive = facts.keepsAlive(minorVersion: version.minor)
        self.closeAfterEnd = !self.keepsAlive
        switch framing {
        case .none: self.state = .end
        case .length(let length): self.state = length == 0 ? .end : .body(remaining: length)
        case .chunked: self.state = .chunked(ChunkedBodyReader())
        }
        return .head(
            HTTPReceivedRequestHead(
                method: method, uri: uri, version: version, fields: HTTPFieldBlock(bytes: headBytes, fields: fields)))
    }
}
