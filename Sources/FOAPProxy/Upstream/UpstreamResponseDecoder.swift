import NIOCore
import NIOHTTP1

/// The pooled upstream connection's response decoder: NIO's `HTTPResponseDecoder`, told each request head by the
/// relay instead of watching the writes.
///
/// The decoder must know every request's method (the answer to `HEAD` has no body), so NIO makes it a
/// `WriteObservingByteToMessageDecoder`, and its `ByteToMessageHandler` then sits on the outbound path: every
/// request part passed through that handler's generic `write`, which runs unspecialized (metadata lookups and a
/// dynamic cast per part, ~7,500 instructions per request in bench/profile). Wrapped in this plain decoder, the
/// handler is inbound-only; `UpstreamRelayHandler.send` hands the decoder the head it is about to write.
struct UpstreamResponseDecoder: ByteToMessageDecoder {
    typealias InboundOut = HTTPClientResponsePart

    /// A class: the relay keeps the same instance to report request heads.
    let decoder: HTTPResponseDecoder

    init(_ decoder: HTTPResponseDecoder) {
        self.decoder = decoder
    }

    mutating func decoderAdded(context: ChannelHandlerContext) {
        self.decoder.decoderAdded(context: context)
    }

    mutating func decoderRemoved(context: ChannelHandlerContext) {
        self.decoder.decoderRemoved(context: context)
    }

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        try self.decoder.decode(context: context, buffer: &buffer)
    }

    mutating func decodeLast(
        context: ChannelHandlerContext,
        buffer: inout ByteBuffer,
        seenEOF: Bool
    ) throws -> DecodingState {
        try self.decoder.decodeLast(context: context, buffer: &buffer, seenEOF: seenEOF)
    }
}
