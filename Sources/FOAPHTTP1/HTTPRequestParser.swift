#if canImport(Glibc)
import Glibc
#endif
import NIOCore
import NIOHTTP1

/// An HTTP/1.1 request parser (RFC 9112) that reads straight from the connection's `ByteBuffer`.
///
/// It replaces llhttp (through NIO's `HTTPRequestDecoder` and `ByteToMessageHandler`) on the client connection:
/// a request head is found whole, then parsed in one pass that also collects the framing facts, so no callback
/// per token and no second scan of the headers. It is strict where leniency lets requests be smuggled past or
/// through another hop: one `Content-Length` and only digits in it, no `Content-Length` next to
/// `Transfer-Encoding`, `chunked` last (and a request with any other final coding refused), CRLF line ends only,
/// no obs-fold, no whitespace before a header's colon, no control characters in the target or in values. What
/// it accepts and refuses is compared with llhttp on a shared corpus in the tests (`HTTPParserCorpusTests`).
public struct HTTPRequestParser {
    /// Bounds on what a request may make the parser hold. The header limits are NIO's defaults (what llhttp
    /// enforced here before); the head and chunk-line bounds have no llhttp equivalent (it bounds neither the
    /// target nor chunk extensions).
    public struct Limits: Sendable {
        /// Names and values of the header fields (and of the trailer fields), together.
        public var maxHeaderListSize = 80 * 1024
        public var maxHeaderFieldCount = Int(UInt16.max) - 1
        /// The whole head: request line, fields, line ends.
        public var maxHeadSize = 96 * 1024
        /// A chunk-size line with its extensions.
        public var maxChunkLineSize = 4 * 1024

        public init(
            maxHeaderListSize: Int = 80 * 1024,
            maxHeaderFieldCount: Int = Int(UInt16.max) - 1,
            maxHeadSize: Int = 96 * 1024,
            maxChunkLineSize: Int = 4 * 1024
        ) {
            self.maxHeaderListSize = maxHeaderListSize
            self.maxHeaderFieldCount = maxHeaderFieldCount
            self.maxHeadSize = maxHeadSize
            self.maxChunkLineSize = maxChunkLineSize
        }
    }

    /// The parts NIO's decoder delivered, so the connection handler reads them as before.
    public typealias Part = HTTPServerRequestPart

    private enum State {
        /// Before or inside a request head; `scanned` bytes of it were searched for its end already.
        case head(scanned: Int)
        case body(remaining: UInt64)
        case chunkLine
        case chunkData(remaining: UInt64)
        case chunkDataEnd
        case trailers(scanned: Int)
        /// A message ends here (returned on the next call, so a head is never followed by an end in one call).
        case end
        /// The last request closes the connection: only line ends may follow it (llhttp's rule).
        case closed
        /// The request switched protocols (an upgrade or CONNECT): the bytes that follow are not HTTP.
        case upgraded
        case failed
    }

    private var state = State.head(scanned: 0)
    private var upgradeAfterEnd = false
    private var closeAfterEnd = false
    public let limits: Limits

    public init(limits: Limits = Limits()) {
        self.limits = limits
    }

    /// Whether the bytes after the last message belong to another protocol (parsing stopped for good).
    public var isUpgraded: Bool {
        if case .upgraded = self.state { return true }
        return false
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
            guard buffer.readableBytes > 0 else { return nil }
            let count = Int(min(UInt64(buffer.readableBytes), remaining))
            let slice = buffer.readSlice(length: count)!
            self.state = remaining == UInt64(count) ? .end : .body(remaining: remaining - UInt64(count))
            return .body(slice)
        case .chunkLine:
            return try self.parseChunkLine(from: &buffer)
        case .chunkData(let remaining):
            guard buffer.readableBytes > 0 else { return nil }
            let count = Int(min(UInt64(buffer.readableBytes), remaining))
            let slice = buffer.readSlice(length: count)!
            self.state = remaining == UInt64(count) ? .chunkDataEnd : .chunkData(remaining: remaining - UInt64(count))
            return .body(slice)
        case .chunkDataEnd:
            guard buffer.readableBytes >= 2 else { return nil }
            guard buffer.readInteger(as: UInt16.self) == 0x0D0A else { throw .invalidChunkSize }
            self.state = .chunkLine
            return try self.parseChunkLine(from: &buffer)
        case .trailers(let scanned):
            return try self.parseTrailers(from: &buffer, scanned: scanned)
        case .end:
            return self.pendingEnd()
        case .closed:
            while let byte = buffer.readInteger(as: UInt8.self) {
                guard byte == .cr || byte == .lf else { throw .closedConnection }
            }
            return nil
        case .upgraded, .failed:
            return nil
        }
    }

    // MARK: Head

    private mutating func parseHead(from buffer: inout ByteBuffer, scanned: Int) throws(HTTPParserError) -> Part? {
        // Empty lines before a request line are skipped (RFC 9112 §2.2), as llhttp does.
        if scanned == 0 {
            while let byte = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self), byte == .cr || byte == .lf {
                buffer.moveReaderIndex(forwardBy: 1)
            }
        }
        guard let headLength = Self.blankLineEnd(in: buffer, from: scanned) else {
            if buffer.readableBytes > self.limits.maxHeadSize { throw .headerOverflow }
            self.state = .head(scanned: max(0, buffer.readableBytes - 3))
            return nil
        }
        if headLength > self.limits.maxHeadSize { throw .headerOverflow }
        let parsed = try buffer.withUnsafeReadableBytes { bytes throws(HTTPParserError) in
            var reader = HTTPHeadReader(bytes: UnsafeRawBufferPointer(rebasing: bytes[..<headLength]), limits: self.limits)
            return try reader.readRequest()
        }
        buffer.moveReaderIndex(forwardBy: headLength)
        let framing = try parsed.facts.framing()
        self.upgradeAfterEnd = parsed.facts.upgrades || parsed.head.method == .CONNECT
        self.closeAfterEnd = !parsed.facts.keepsAlive(minorVersion: parsed.head.version.minor)
        switch framing {
        case .none: self.state = .end
        case .length(let length): self.state = length == 0 ? .end : .body(remaining: length)
        case .chunked: self.state = .chunkLine
        }
        return .head(parsed.head)
    }

    /// The length of the head (through its blank line) if `buffer` holds all of it. `from` bytes were searched
    /// before without finding it. A bare LF is taken as a line end here so that such a head is found (and then
    /// refused by the line parser) rather than waited for.
    private static func blankLineEnd(in buffer: ByteBuffer, from: Int) -> Int? {
        buffer.withUnsafeReadableBytes { bytes -> Int? in
            var index = from
            let count = bytes.count
            while index < count {
                guard let lineFeed = Self.firstIndex(of: .lf, in: bytes, from: index) else { return nil }
                if lineFeed + 1 < count, bytes[lineFeed + 1] == .lf {
                    return lineFeed + 2
                }
                if lineFeed + 2 < count, bytes[lineFeed + 1] == .cr, bytes[lineFeed + 2] == .lf {
                    return lineFeed + 3
                }
                if lineFeed + 2 >= count {
                    return nil
                }
                index = lineFeed + 1
            }
            return nil
        }
    }

    static func firstIndex(of byte: UInt8, in bytes: UnsafeRawBufferPointer, from: Int) -> Int? {
        guard from < bytes.count, let base = bytes.baseAddress else { return nil }
        guard let found = memchr(base + from, Int32(byte), bytes.count - from) else { return nil }
        return base.distance(to: UnsafeRawPointer(found))
    }

    // MARK: Chunked body

    private mutating func parseChunkLine(from buffer: inout ByteBuffer) throws(HTTPParserError) -> Part? {
        let line = buffer.withUnsafeReadableBytes { bytes -> (size: UInt64, length: Int)?? in
            guard let lineFeed = Self.firstIndex(of: .lf, in: bytes, from: 0) else { return .some(nil) }
            return ChunkLine.parse(UnsafeRawBufferPointer(rebasing: bytes[..<(lineFeed + 1)]))
                .map { (size: $0, length: lineFeed + 1) }
        }
        guard let line else { throw .invalidChunkSize }
        guard let line else {
            if buffer.readableBytes > self.limits.maxChunkLineSize { throw .invalidChunkSize }
            return nil
        }
        if line.length > self.limits.maxChunkLineSize { throw .invalidChunkSize }
        buffer.moveReaderIndex(forwardBy: line.length)
        if line.size == 0 {
            self.state = .trailers(scanned: 0)
            return try self.parseTrailers(from: &buffer, scanned: 0)
        }
        self.state = .chunkData(remaining: line.size)
        return try self.parseNextPart(from: &buffer)
    }

    private mutating func parseTrailers(from buffer: inout ByteBuffer, scanned: Int) throws(HTTPParserError) -> Part? {
        // No trailers: the last chunk's line is followed by CRLF at once.
        if scanned == 0, buffer.readableBytes >= 2 {
            if buffer.getInteger(at: buffer.readerIndex, as: UInt16.self) == 0x0D0A {
                buffer.moveReaderIndex(forwardBy: 2)
                self.state = self.stateAfterEnd()
                return .end(nil)
            }
        }
        // Trailer fields: a field block like the head's, ended by a blank line.
        guard let length = Self.blankLineEnd(in: buffer, from: scanned) else {
            if buffer.readableBytes > self.limits.maxHeadSize { throw .headerOverflow }
            self.state = .trailers(scanned: max(0, buffer.readableBytes - 3))
            return nil
        }
        if length > self.limits.maxHeadSize { throw .headerOverflow }
        let trailers = try buffer.withUnsafeReadableBytes { bytes throws(HTTPParserError) in
            var reader = HTTPHeadReader(bytes: UnsafeRawBufferPointer(rebasing: bytes[..<length]), limits: self.limits)
            return try reader.readFields().headers
        }
        buffer.moveReaderIndex(forwardBy: length)
        self.state = self.stateAfterEnd()
        return .end(trailers)
    }
}

extension UInt8 {
    static let cr: UInt8 = 0x0D
    static let lf: UInt8 = 0x0A
    static let space: UInt8 = 0x20
    static let tab: UInt8 = 0x09
    static let colon: UInt8 = 0x3A
    static let comma: UInt8 = 0x2C
    static let semicolon: UInt8 = 0x3B
}
