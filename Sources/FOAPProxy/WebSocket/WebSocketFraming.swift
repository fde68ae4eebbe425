import Crypto
import Foundation
import NIOCore

/// The little of RFC 6455 framing foap reads and writes itself, for the Responses API's WebSocket mode: the
/// upstream is chosen by the `model` of the client's first message, so foap answers that handshake, reads that one
/// message, and writes it upstream rewritten. Every later frame passes through the tunnel untouched.
enum WebSocketFraming {
    enum Opcode: UInt8 {
        case continuation = 0x0
        case text = 0x1
        case binary = 0x2
        case close = 0x8
        case ping = 0x9
        case pong = 0xA
    }

    /// A whole frame sent by a client, its payload unmasked.
    struct ClientFrame {
        var fin: Bool
        var opcode: UInt8
        var payload: ByteBuffer
    }

    /// A client sent what RFC 6455 forbids (an unmasked frame, reserved bits set, a too long payload).
    struct ProtocolViolation: Error {
        var reason: String
    }

    /// The `Sec-WebSocket-Accept` value that answers `key` (§4.2.2).
    static func acceptValue(forKey key: String) -> String {
        let digest = Insecure.SHA1.hash(data: Data((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").utf8))
        return Data(digest).base64EncodedString()
    }

    /// A fresh `Sec-WebSocket-Key`: 16 random bytes in base64.
    static func makeKey() -> String {
        Data((0..<16).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
    }

    /// A frame's header: its first byte (FIN, reserved bits, opcode), whether the payload is masked, and where the
    /// payload starts (after the mask key) and how long it is.
    struct FrameHeader {
        var first: UInt8
        var masked: Bool
        /// Bytes before the payload, the mask key included.
        var length: Int
        var payloadLength: Int

        /// The header at the front of `view`; nil until it has all arrived.
        /// - Parameter limit: the largest payload accepted.
        static func parse(_ view: ByteBufferView, limit: Int) throws -> FrameHeader? {
            guard view.count >= 2 else { return nil }
            let first = view[view.startIndex]
            let second = view[view.startIndex + 1]
            var payloadLength = Int(second & 0x7F)
            var length = 2
            if payloadLength == 126 {
                guard view.count >= 4 else { return nil }
                payloadLength = Int(view[view.startIndex + 2]) << 8 | Int(view[view.startIndex + 3])
                length = 4
            } else if payloadLength == 127 {
                guard view.count >= 10 else { return nil }
                var value: UInt64 = 0
                for index in 2..<10 {
                    value = value << 8 | UInt64(view[view.startIndex + index])
                }
                guard value <= UInt64(limit) else { throw ProtocolViolation(reason: "message too large") }
                payloadLength = Int(value)
                length = 10
            }
            guard payloadLength <= limit else { throw ProtocolViolation(reason: "message too large") }
            let masked = second & 0x80 != 0
            return FrameHeader(first: first, masked: masked, length: length + (masked ? 4 : 0), payloadLength: payloadLength)
        }
    }

    /// Reads one complete client frame from `buffer`; nil (nothing consumed) until all of it has arrived.
    /// - Parameter limit: the largest payload accepted.
    static func readClientFrame(_ buffer: inout ByteBuffer, limit: Int) throws -> ClientFrame? {
        let view = buffer.readableBytesView
        guard let header = try FrameHeader.parse(view, limit: limit) else { return nil }
        guard header.first & 0x70 == 0 else { throw ProtocolViolation(reason: "reserved bits set without an extension") }
        guard header.masked else { throw ProtocolViolation(reason: "a client frame must be masked") }
        let length = header.payloadLength
        let offset = header.length - 4
        guard view.count >= header.length + length else { return nil }
        let mask = Array(view[(view.startIndex + offset)..<(view.startIndex + offset + 4)])
        buffer.moveReaderIndex(forwardBy: offset + 4)
        var payload = buffer.readSlice(length: length)!
        payload.withUnsafeMutableReadableBytes { bytes in
            for index in bytes.indices {
                bytes[index] ^= mask[index & 3]
            }
        }
        return ClientFrame(fin: header.first & 0x80 != 0, opcode: header.first & 0x0F, payload: payload)
    }

    /// One final frame as a client sends it (masked with a fresh key): the first message, rewritten, upstream.
    static func clientFrame(_ opcode: Opcode, payload: ByteBuffer, allocator: ByteBufferAllocator) -> ByteBuffer {
        let mask = (0..<4).map { _ in UInt8.random(in: 0...255) }
        var frame = Self.header(
            firstByte: 0x80 | opcode.rawValue, length: payload.readableBytes, masked: true, allocator: allocator)
        frame.writeBytes(mask)
        var index = 0
        for byte in payload.readableBytesView {
            frame.writeInteger(byte ^ mask[index & 3])
            index += 1
        }
        return frame
    }

    /// A frame with its first header byte (FIN, opcode) given and its payload as it goes on the wire (masked
    /// already with `mask`, when there is one).
    static func frame(firstByte: UInt8, mask: [UInt8]?, payload: ByteBuffer) -> ByteBuffer {
        var frame = Self.header(
            firstByte: firstByte, length: payload.readableBytes, masked: mask != nil, allocator: ByteBufferAllocator())
        if let mask {
            frame.writeBytes(mask)
        }
        frame.writeImmutableBuffer(payload)
        return frame
    }

    /// One final frame as a server sends it (unmasked): foap's own error event and close to the client.
    static func serverFrame(_ opcode: Opcode, payload: ByteBuffer, allocator: ByteBufferAllocator) -> ByteBuffer {
        var frame = Self.header(
            firstByte: 0x80 | opcode.rawValue, length: payload.readableBytes, masked: false, allocator: allocator)
        frame.writeImmutableBuffer(payload)
        return frame
    }

    /// A close frame's payload: the status code (§7.4.1: 1008 policy violation, 1011 internal error) and a reason.
    static func closePayload(code: UInt16, reason: String) -> ByteBuffer {
        var payload = ByteBuffer()
        payload.writeInteger(code)
        payload.writeString(String(reason.utf8.prefix(120)) ?? "")
        return payload
    }

    private static func header(firstByte: UInt8, length: Int, masked: Bool, allocator: ByteBufferAllocator)
        -> ByteBuffer
    {
        var frame = allocator.buffer(capacity: length + 14)
        frame.writeInteger(firstByte)
        let maskBit: UInt8 = masked ? 0x80 : 0
        if length < 126 {
            frame.writeInteger(maskBit | UInt8(length))
        } else if length <= 0xFFFF {
            frame.writeInteger(maskBit | 126)
            frame.writeInteger(UInt16(length))
        } else {
            frame.writeInteger(maskBit | 127)
            frame.writeInteger(UInt64(length))
        }
        return frame
    }
}
