import NIOCore

/// The client-to-upstream direction of a Responses socket: every `response.create` names its model, and the
/// upstream knows it by its own name, so each whole text message naming the client's model gets the upstream's
/// name (the same one-value rewrite as a `POST` body); every other frame — control frames, binary messages,
/// fragmented messages — passes byte for byte. A frame is forwarded once it is whole.
struct ClientMessageRewriter {
    /// The model the client names, and the upstream's name for it.
    let model: String
    let targetModel: String
    /// The largest frame held whole (the body limit of `POST /v1/responses`).
    let limit: Int
    private var pending = ByteBuffer()
    /// Inside a fragmented message: its frames pass untouched.
    private var inFragmentedMessage = false

    init(model: String, targetModel: String, limit: Int) {
        self.model = model
        self.targetModel = targetModel
        self.limit = limit
    }

    /// Takes bytes read from the client; returns those to write upstream now (whole frames, rewritten or not).
    mutating func feed(_ bytes: ByteBuffer) throws -> ByteBuffer {
        if self.pending.readableBytes == 0 {
            self.pending = bytes
        } else {
            var bytes = bytes
            self.pending.writeBuffer(&bytes)
        }
        var output = ByteBuffer()
        while let frame = try self.nextFrame() {
            output.writeImmutableBuffer(frame)
        }
        if self.pending.readableBytes == 0 {
            self.pending = ByteBuffer()
        }
        return output
    }

    /// The next whole frame at the front of `pending`, as it goes upstream; nil until it has arrived.
    private mutating func nextFrame() throws -> ByteBuffer? {
        let view = self.pending.readableBytesView
        guard view.count >= 2 else { return nil }
        let first = view[view.startIndex]
        let second = view[view.startIndex + 1]
        var length = Int(second & 0x7F)
        var headerLength = 2
        if length == 126 {
            guard view.count >= 4 else { return nil }
            length = Int(view[view.startIndex + 2]) << 8 | Int(view[view.startIndex + 3])
            headerLength = 4
        } else if length == 127 {
            guard view.count >= 10 else { return nil }
            var value: UInt64 = 0
            for index in 2..<10 {
                value = value << 8 | UInt64(view[view.startIndex + index])
            }
            guard value <= UInt64(self.limit) else { throw WebSocketFraming.ProtocolViolation(reason: "frame too large") }
            length = Int(value)
            headerLength = 10
        }
        guard length <= self.limit else { throw WebSocketFraming.ProtocolViolation(reason: "frame too large") }
        let masked = second & 0x80 != 0
        let total = headerLength + (masked ? 4 : 0) + length
        guard view.count >= total else { return nil }
        let raw = self.pending.readSlice(length: total)!
        let fin = first & 0x80 != 0
        let opcode = first & 0x0F
        if opcode == WebSocketFraming.Opcode.text.rawValue || opcode == WebSocketFraming.Opcode.binary.rawValue {
            self.inFragmentedMessage = !fin
            if fin, opcode == WebSocketFraming.Opcode.text.rawValue, masked {
                return self.rewritten(raw, headerLength: headerLength, length: length) ?? raw
            }
        } else if opcode == WebSocketFraming.Opcode.continuation.rawValue, fin {
            self.inFragmentedMessage = false
        }
        return raw
    }

    /// A whole masked text frame with its `model` rewritten; nil when it names another model (or none).
    private func rewritten(_ raw: ByteBuffer, headerLength: Int, length: Int) -> ByteBuffer? {
        guard let maskBytes = raw.getBytes(at: raw.readerIndex + headerLength, length: 4),
            var payload = raw.getSlice(at: raw.readerIndex + headerLength + 4, length: length)
        else { return nil }
        Self.applyMask(maskBytes, to: &payload)
        guard let inspection = try? JSONModelScanner.inspect(payload, requireModel: false), inspection.hasModel,
            inspection.model == self.model, self.model != self.targetModel
        else { return nil }
        var message = JSONModelRewriter.rewrite(payload, inspection: inspection, targetModel: self.targetModel)
        Self.applyMask(maskBytes, to: &message)
        return WebSocketFraming.maskedFrame(
            opcode: raw.getInteger(at: raw.readerIndex, as: UInt8.self)!, mask: maskBytes, maskedPayload: message)
    }

    private static func applyMask(_ mask: [UInt8], to buffer: inout ByteBuffer) {
        buffer.withUnsafeMutableReadableBytes { bytes in
            for index in bytes.indices {
                bytes[index] ^= mask[index & 3]
            }
        }
    }
}
