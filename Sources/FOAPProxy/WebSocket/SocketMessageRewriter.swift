import NIOCore

/// Rewrites the whole text messages of one direction of a Responses socket, as the HTTP route rewrites bodies and
/// stream events: client to upstream, the client's model name becomes the upstream's and the trailers of ids foap
/// handed out come off; upstream to client, the ids the upstream hands out get this upstream's trailer. Only those
/// values change. Every other frame — control frames, binary and fragmented messages — passes byte for byte; a
/// frame is forwarded once it is whole.
struct SocketMessageRewriter {
    enum Job {
        /// A message naming `model` names `targetModel` instead.
        case model(String, targetModel: String)
        /// Ids carrying `tag`'s trailer lose it (others pass: the upstream answers for ids it does not know).
        case stripIDs(tag: String, trailer: IDTrailer)
        /// Ids the message hands out get `tag`'s trailer.
        case tagIDs(tag: String, trailer: IDTrailer)
    }

    let jobs: [Job]
    /// The largest frame held whole (the body limit of `POST /v1/responses`).
    let limit: Int
    private var pending = ByteBuffer()

    init(_ jobs: [Job], limit: Int) {
        self.jobs = jobs
        self.limit = limit
    }

    /// Takes bytes read from one side; returns those to write to the other now (whole frames, rewritten or not).
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

    /// The next whole frame at the front of `pending`, as it goes on; nil until it has arrived.
    private mutating func nextFrame() throws -> ByteBuffer? {
        guard let header = try WebSocketFraming.FrameHeader.parse(self.pending.readableBytesView, limit: self.limit)
        else { return nil }
        let masked = header.masked
        let length = header.payloadLength
        let headerLength = header.length - (masked ? 4 : 0)
        let total = header.length + length
        guard self.pending.readableBytes >= total else { return nil }
        let raw = self.pending.readSlice(length: total)!
        // A whole (FIN) text frame is a whole message: continuation frames only follow a non-FIN first frame.
        guard header.first == 0x80 | WebSocketFraming.Opcode.text.rawValue else { return raw }
        return self.rewritten(raw, headerLength: headerLength, length: length, masked: masked) ?? raw
    }

    /// A whole text frame with its message rewritten; nil when no job changed it.
    private func rewritten(_ raw: ByteBuffer, headerLength: Int, length: Int, masked: Bool) -> ByteBuffer? {
        let mask = masked ? raw.getBytes(at: raw.readerIndex + headerLength, length: 4) : nil
        guard var message = raw.getSlice(at: raw.readerIndex + headerLength + (masked ? 4 : 0), length: length)
        else { return nil }
        if let mask {
            Self.apply(mask, to: &message)
        }
        var changed = false
        for job in self.jobs {
            if let next = Self.run(job, on: message) {
                message = next
                changed = true
            }
        }
        guard changed else { return nil }
        if let mask {
            Self.apply(mask, to: &message)
        }
        return WebSocketFraming.frame(firstByte: raw.getInteger(at: raw.readerIndex)!, mask: mask, payload: message)
    }

    private static func run(_ job: Job, on message: ByteBuffer) -> ByteBuffer? {
        switch job {
        case .model(let model, let targetModel):
            guard model != targetModel, let inspection = try? JSONModelScanner.inspect(message, requireModel: false),
                inspection.hasModel, inspection.model == model
            else { return nil }
            return JSONModelRewriter.rewrite(message, inspection: inspection, targetModel: targetModel)
        case .stripIDs(let tag, let trailer):
            let inbound = IDFieldRewriter.stripInbound(message, trailer: trailer)
            guard !inbound.forged, inbound.tags == [tag] else { return nil }
            return inbound.body
        case .tagIDs(let tag, let trailer):
            return IDFieldRewriter.tagOutbound(message, tag: tag, trailer: trailer)
        }
    }

    private static func apply(_ mask: [UInt8], to buffer: inout ByteBuffer) {
        buffer.withUnsafeMutableReadableBytes { bytes in
            for index in bytes.indices {
                bytes[index] ^= mask[index & 3]
            }
        }
    }
}
