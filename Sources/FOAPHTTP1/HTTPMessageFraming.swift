#if canImport(Glibc)
import Glibc
#endif
import NIOCore
import NIOHTTP1

/// The pieces of message framing the response parser uses: finding a whole head (or trailer block), body slices, chunk lines and the
/// CRLF after chunk data. Each consumes bytes only when it returns something.
enum HTTPMessageFraming {
    /// The length of the head at the start of `buffer` (through its blank line), or nil while it is incomplete.
    /// Empty lines before it are dropped first (RFC 9112 §2.2, as llhttp does) when nothing was `scanned` yet.
    static func headLength(
        in buffer: inout ByteBuffer,
        scanned: Int,
        limits: HTTPParserLimits
    ) throws(HTTPParserError) -> Int? {
        if scanned == 0 {
            while let byte = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self), byte == .cr || byte == .lf {
                buffer.moveReaderIndex(forwardBy: 1)
            }
        }
        return try self.blockLength(in: buffer, scanned: scanned, limits: limits)
    }

    /// After a message that closes the connection only line ends may follow (llhttp's rule): consumes them, and
    /// refuses anything else.
    static func skipLineEnds(in buffer: inout ByteBuffer) throws(HTTPParserError) {
        while let byte = buffer.readInteger(as: UInt8.self) {
            guard byte == .cr || byte == .lf else { throw .closedConnection }
        }
    }

    /// Where the next search for a head's end may start without missing it.
    static func scanned(_ buffer: ByteBuffer) -> Int {
        max(0, buffer.readableBytes - 3)
    }

    /// The next body slice of at most `remaining` bytes and what remains after it; nil when no byte is there.
    static func bodySlice(of buffer: inout ByteBuffer, remaining: UInt64) -> (ByteBuffer, UInt64)? {
        guard buffer.readableBytes > 0 else { return nil }
        let count = Int(min(UInt64(buffer.readableBytes), remaining))
        return (buffer.readSlice(length: count)!, remaining - UInt64(count))
    }

    /// The size on a whole chunk-size line (consumed), or nil while the line is incomplete.
    static func chunkSize(
        from buffer: inout ByteBuffer,
        limits: HTTPParserLimits
    ) throws(HTTPParserError) -> UInt64? {
        let line = buffer.withUnsafeReadableBytes { bytes -> (size: UInt64, length: Int)?? in
            guard let lineFeed = Self.firstIndex(of: .lf, in: bytes, from: 0) else { return .some(nil) }
            return ChunkLine.parse(UnsafeRawBufferPointer(rebasing: bytes[..<(lineFeed + 1)]))
                .map { (size: $0, length: lineFeed + 1) }
        }
        guard let line else { throw .invalidChunkSize }
        guard let line else {
            if buffer.readableBytes > limits.maxChunkLineSize { throw .invalidChunkSize }
            return nil
        }
        if line.length > limits.maxChunkLineSize { throw .invalidChunkSize }
        buffer.moveReaderIndex(forwardBy: line.length)
        return line.size
    }

    /// Consumes the CRLF that ends chunk data; false while it has not arrived.
    static func chunkDataEnd(in buffer: inout ByteBuffer) throws(HTTPParserError) -> Bool {
        guard buffer.readableBytes >= 2 else { return false }
        guard buffer.readInteger(as: UInt16.self) == 0x0D0A else { throw .invalidChunkSize }
        return true
    }

    /// The trailer section after the last chunk: `.some(nil)` for none (a bare CRLF), `.some(fields)`, or nil
    /// while it is incomplete.
    static func trailers(
        from buffer: inout ByteBuffer,
        scanned: Int,
        limits: HTTPParserLimits
    ) throws(HTTPParserError) -> HTTPHeaders?? {
        if scanned == 0, buffer.readableBytes >= 2, buffer.getInteger(at: buffer.readerIndex, as: UInt16.self) == 0x0D0A {
            buffer.moveReaderIndex(forwardBy: 2)
            return .some(nil)
        }
        guard let length = try self.blockLength(in: buffer, scanned: scanned, limits: limits) else { return nil }
        let trailers = try buffer.withUnsafeReadableBytes { bytes throws(HTTPParserError) in
            var reader = HTTPHeadReader(bytes: UnsafeRawBufferPointer(rebasing: bytes[..<length]), limits: limits)
            let fields = try reader.readFields()
            // Framing fields cannot frame anything after the body (RFC 9110 §6.5.1); llhttp refuses them too.
            if fields.facts.namesFraming { throw HTTPParserError.unexpectedContentLength }
            return fields.headers
        }
        buffer.moveReaderIndex(forwardBy: length)
        return .some(trailers)
    }

    /// The length of the line block at the start of `buffer`, through its blank line, within the head limit.
    private static func blockLength(
        in buffer: ByteBuffer,
        scanned: Int,
        limits: HTTPParserLimits
    ) throws(HTTPParserError) -> Int? {
        guard let length = Self.blankLineEnd(in: buffer, from: scanned) else {
            if buffer.readableBytes > limits.maxHeadSize { throw .headerOverflow }
            return nil
        }
        if length > limits.maxHeadSize { throw .headerOverflow }
        return length
    }

    /// The length through the first blank line, if `buffer` holds it. `from` bytes were searched before without
    /// finding it. A bare LF is taken as a line end here so that such a block is found (and then refused by the
    /// line reader) rather than waited for.
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
}

/// Bounds on what a message may make a parser hold: NIO's defaults for the fields (what llhttp enforced before),
/// and bounds on the whole head and on a chunk-size line, which llhttp does not bound.
public struct HTTPParserLimits: Sendable {
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

extension UInt8 {
    static let cr: UInt8 = 0x0D
    static let lf: UInt8 = 0x0A
    static let space: UInt8 = 0x20
    static let tab: UInt8 = 0x09
    static let colon: UInt8 = 0x3A
    static let comma: UInt8 = 0x2C
    static let semicolon: UInt8 = 0x3B
}
