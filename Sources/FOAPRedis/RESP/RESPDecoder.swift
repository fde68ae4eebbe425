import NIOCore

/// The channel's inbound half: bytes in, one ``RESPValue`` per complete reply out (use it through
/// `ByteToMessageHandler`). Any malformed input is an error that closes the connection.
public struct RESPDecoder: ByteToMessageDecoder {
    public typealias InboundOut = RESPValue

    private let parser: RESPParser

    public init(limits: RESPParser.Limits = RESPParser.Limits()) {
        self.parser = RESPParser(limits: limits)
    }

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let value = try self.parser.parse(&buffer) else {
            return .needMoreData
        }
        context.fireChannelRead(Self.wrapInboundOut(value))
        return .continue
    }

    public mutating func decodeLast(
        context: ChannelHandlerContext,
        buffer: inout ByteBuffer,
        seenEOF: Bool
    ) throws -> DecodingState {
        // A partial reply at EOF is dropped: its request fails with the connection's close, which says more.
        while try self.decode(context: context, buffer: &buffer) == .continue {}
        return .needMoreData
    }
}

/// Writes commands as RESP arrays of bulk strings, the one form every Redis version accepts.
public enum RESPEncoder {
    public static func encode(_ command: RedisCommand, into buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt8(ascii: "*"))
        buffer.writeString(String(command.arguments.count))
        buffer.writeStaticString("\r\n")
        for argument in command.arguments {
            buffer.writeInteger(UInt8(ascii: "$"))
            buffer.writeString(String(argument.readableBytes))
            buffer.writeStaticString("\r\n")
            buffer.writeImmutableBuffer(argument)
            buffer.writeStaticString("\r\n")
        }
    }
}
