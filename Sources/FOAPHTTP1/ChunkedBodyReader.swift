import NIOCore
import NIOHTTP1

/// A chunked body being read (RFC 9112 §7.1): chunk-size lines, chunk data, the CRLF after each chunk, the trailer
/// block. Both parsers read their chunked bodies through it, so the two directions frame chunks the same way.
struct ChunkedBodyReader {
    /// What the next bytes held.
    enum Piece {
        case data(ByteBuffer)
        /// The last chunk and the trailers after it (nil: none).
        case end(HTTPHeaders?)
    }

    private enum State {
        case chunkLine
        case chunkData(remaining: UInt64)
        case chunkDataEnd
        case trailers(scanned: Int)
    }

    private var state = State.chunkLine

    /// The next piece of the body in `buffer`, consuming its bytes; nil when more bytes are needed. A thrown error
    /// is final for the message.
    mutating func next(from buffer: inout ByteBuffer, limits: HTTPParserLimits) throws(HTTPParserError) -> Piece? {
        while true {
            switch self.state {
            case .chunkLine:
                guard let size = try HTTPMessageFraming.chunkSize(from: &buffer, limits: limits) else { return nil }
                self.state = size == 0 ? .trailers(scanned: 0) : .chunkData(remaining: size)
            case .chunkData(let remaining):
                guard let (slice, left) = HTTPMessageFraming.bodySlice(of: &buffer, remaining: remaining) else {
                    return nil
                }
                self.state = left == 0 ? .chunkDataEnd : .chunkData(remaining: left)
                return .data(slice)
            case .chunkDataEnd:
                guard try HTTPMessageFraming.chunkDataEnd(in: &buffer) else { return nil }
                self.state = .chunkLine
            case .trailers(let scanned):
                guard let trailers = try HTTPMessageFraming.trailers(from: &buffer, scanned: scanned, limits: limits)
                else {
                    self.state = .trailers(scanned: HTTPMessageFraming.scanned(buffer))
                    return nil
                }
                return .end(trailers)
            }
        }
    }
}
