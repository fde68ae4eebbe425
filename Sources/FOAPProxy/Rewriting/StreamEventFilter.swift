import NIOCore

/// Rewrites a server-sent event stream event by event: complete events pass at once; only the bytes of an event
/// cut between two reads wait for the rest of it. Every other byte of the stream is relayed as it came.
struct StreamEventFilter {
    /// What happens to each complete event.
    enum Job {
        /// Drop the usage-only chunk the client did not ask for (`inject_stream_usage`).
        case dropUsageChunk
        /// Put the upstream's trailer on the ids the event hands out (Responses streams, `Ids/`).
        case tagIDs(tag: String, trailer: IDTrailer)
    }

    private(set) var jobs: [Job]
    private var pending: [UInt8] = []

    init(_ jobs: [Job]) {
        self.jobs = jobs
    }

    mutating func add(_ job: Job) {
        self.jobs.append(job)
    }

    /// What of `part` (and of what was held back) to relay now.
    mutating func filter(_ part: ByteBuffer) -> ByteBuffer {
        self.pending += part.readableBytesView
        var output = ByteBuffer()
        var start = 0
        while let end = Self.eventEnd(in: self.pending, from: start) {
            self.relay(self.pending[start..<end], into: &output)
            start = end
        }
        self.pending.removeFirst(start)
        return output
    }

    /// Whatever was held back when the stream ends (an unterminated last event passes as it came).
    mutating func finish() -> ByteBuffer? {
        guard !self.pending.isEmpty else { return nil }
        defer { self.pending = [] }
        return ByteBuffer(bytes: self.pending)
    }

    private func relay(_ event: ArraySlice<UInt8>, into output: inout ByteBuffer) {
        var rewritten: ByteBuffer?
        for job in self.jobs {
            switch job {
            case .dropUsageChunk:
                if UsageChunkFilter.isUsageChunk(event) { return }
            case .tagIDs(let tag, let trailer):
                rewritten = IDFieldRewriter.tagOutbound(rewritten ?? ByteBuffer(bytes: event), tag: tag, trailer: trailer)
                    ?? rewritten
            }
        }
        if var rewritten {
            output.writeBuffer(&rewritten)
        } else {
            output.writeBytes(event)
        }
    }

    /// The end (exclusive) of the event starting at `start`: after its blank line (`\n\n` or `\r\n\r\n`).
    private static func eventEnd(in bytes: [UInt8], from start: Int) -> Int? {
        var index = start
        let newline = UInt8(ascii: "\n")
        while index + 1 < bytes.count {
            if bytes[index] == newline {
                if bytes[index + 1] == newline { return index + 2 }
                if index + 2 < bytes.count, bytes[index + 1] == UInt8(ascii: "\r"), bytes[index + 2] == newline {
                    return index + 3
                }
            }
            index += 1
        }
        return nil
    }
}
