import NIOCore

/// Rewrites the whole text messages of one direction of a Responses socket, as the HTTP route rewrites bodies and
/// stream events: client to upstream, the client's model name becomes the upstream's and the trailers of ids foap
/// handed out come off; upstream to client, the ids the upstream hands out get this upstream's trailer. Only those
/// values change. Every other frame passes byte for byte; a frame is forwarded once it is whole.
///
/// The client's side is held to the model its socket was opened for: the key was checked for that model only, and
/// the upstream would run whatever a later message names. So a message naming another model (or `model` in other
/// letter case, or a `model` that is not a string) is refused, and so is a message foap cannot read whole — a
/// fragmented or binary one, or one with a reserved bit set (no extension is negotiated on this socket).
struct SocketMessageRewriter {
    enum Job {
        /// A message naming `model` names `targetModel` instead; one naming another model is refused.
        case model(String, targetModel: String)
        /// Ids carrying `tag`'s trailer lose it (others pass: the upstream answers for ids it does not know).
        case stripIDs(tag: String, trailer: IDTrailer)
        /// Ids the message hands out get `tag`'s trailer.
        case tagIDs(tag: String, trailer: IDTrailer)
    }

    /// A client's message this socket does not carry: the client gets `error` as an `error` event and a close.
    struct Refusal: Error {
        var error: OpenAIError
    }

    let jobs: [Job]
    /// The largest frame held whole (the body limit of `POST /v1/responses`).
    let limit: Int
    /// The client's side: every data frame must be a whole text message foap can read.
    private let readsEveryMessage: Bool
    private var pending = ByteBuffer()
    /// A client's message was refused: what `feed` returned with it (the frames before it) still goes on, and
    /// nothing after it is read.
    private(set) var refusal: Refusal?

    init(_ jobs: [Job], limit: Int) {
        self.jobs = jobs
        self.limit = limit
        self.readsEveryMessage = jobs.contains { if case .model = $0 { true } else { false } }
    }

    /// Takes bytes read from one side; returns those to write to the other now (whole frames, rewritten or not).
    /// A refused message ends the output and sets `refusal`.
    mutating func feed(_ bytes: ByteBuffer) throws -> ByteBuffer {
        guard self.refusal == nil else { return ByteBuffer() }
        if self.pending.readableBytes == 0 {
            self.pending = bytes
        } else {
            var bytes = bytes
            self.pending.writeBuffer(&bytes)
        }
        var output = ByteBuffer()
        do {
            while let frame = try self.nextFrame() {
                output.writeImmutableBuffer(frame)
            }
        } catch let refusal as Refusal {
            self.refusal = refusal
            self.pending = ByteBuffer()
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
        if self.readsEveryMessage {
            try Self.checkReadable(header.first)
        }
        // A whole (FIN) text frame is a whole message: continuation frames only follow a non-FIN first frame.
        guard header.first == 0x80 | WebSocketFraming.Opcode.text.rawValue else { return raw }
        return try self.rewritten(raw, headerLength: headerLength, length: length, masked: masked) ?? raw
    }

    /// Refuses a data frame that is not a whole, plain text message (control frames pass).
    private static func checkReadable(_ first: UInt8) throws {
        let opcode = first & 0x0F
        guard opcode < WebSocketFraming.Opcode.close.rawValue else { return }
        guard first & 0x70 == 0 else {
            throw Refusal(error: .invalidSocketMessage("a frame with a reserved bit set (no extension was agreed)"))
        }
        guard first == 0x80 | WebSocketFraming.Opcode.text.rawValue else {
            throw Refusal(error: .invalidSocketMessage("only whole text messages are carried (no fragments, no binary)"))
        }
    }

    /// A whole text frame with its message rewritten; nil when no job changed it.
    private func rewritten(_ raw: ByteBuffer, headerLength: Int, length: Int, masked: Bool) throws -> ByteBuffer? {
        let mask = masked ? raw.getBytes(at: raw.readerIndex + headerLength, length: 4) : nil
        guard var message = raw.getSlice(at: raw.readerIndex + headerLength + (masked ? 4 : 0), length: length)
        else { return nil }
        if let mask {
            Self.apply(mask, to: &message)
        }
        var changed = false
        for job in self.jobs {
            if let next = try Self.run(job, on: message) {
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

    private static func run(_ job: Job, on message: ByteBuffer) throws -> ByteBuffer? {
        switch job {
        case .model(let model, let targetModel):
            let inspection: JSONBodyInspection
            do {
                inspection = try JSONModelScanner.inspect(message, requireModel: false)
            } catch {
                switch error {
                case .modelNotString, .modelInOtherCase: throw Refusal(error: error.openAIError)
                case .notJSON, .notAnObject, .missingModel: return nil  // the upstream answers for those
                }
            }
            guard inspection.hasModel, inspection.model != targetModel else { return nil }
            guard inspection.model == model else { throw Refusal(error: .socketModelChanged(socketModel: model)) }
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
