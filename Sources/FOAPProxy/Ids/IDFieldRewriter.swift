import NIOCore

/// Puts trailers on the ids an answer hands out and takes them off the ids a request brings back, by a byte scan of
/// the JSON (like `ImageURLRewriter`): every other byte passes unchanged, and no tree is built.
///
/// Out: the string values of `id`, `first_id`, `last_id`, `file_id`, `input_file_id`, `output_file_id`,
/// `error_file_id`, at any depth (so `data[].id`, `conversation.id` and the `response.id` of stream events too), when
/// they carry a prefix of an object that lives on one upstream (`resp_`, `file-`, `batch_`, `conv_`, `upload_`,
/// `chatcmpl-`); item ids (`msg_`, `rs_`, `fc_`) are left alone. In: every string value with a verified trailer
/// loses it, and its tag is reported; one that looks like a trailer but does not verify is reported as forged.
enum IDFieldRewriter {
    static let outboundKeys: Set<String> = [
        "id", "first_id", "last_id", "file_id", "input_file_id", "output_file_id", "error_file_id",
    ]
    static let routedPrefixes = ["resp_", "file-", "batch_", "conv_", "upload_", "chatcmpl-"]

    /// `body` with a trailer on every id it hands out; nil when there is none to mark.
    static func tagOutbound(_ body: ByteBuffer, tag: String, trailer: IDTrailer) -> ByteBuffer? {
        var edits: [(end: Int, insert: String)] = []
        JSONStrings.forEach(in: body) { string in
            guard !string.isKey, let key = string.key, Self.outboundKeys.contains(key), !string.hasEscapes,
                Self.routedPrefixes.contains(where: { string.value.hasPrefix($0) }),
                case .plain = trailer.decode(string.value)
            else { return }
            let encoded = trailer.encode(string.value, tag: tag)
            edits.append((string.valueEnd, String(encoded.dropFirst(string.value.count))))
        }
        return Self.applying(edits.map { ($0.end, $0.end, $0.insert) }, to: body)
    }

    /// What a request's body brought back: the body without trailers, the tags they named, and whether any
    /// trailer failed to verify.
    struct Inbound {
        var body: ByteBuffer?
        var tags: Set<String>
        var forged: Bool
    }

    static func stripInbound(_ body: ByteBuffer, trailer: IDTrailer) -> Inbound {
        var edits: [(Int, Int, String)] = []
        var tags = Set<String>()
        var forged = false
        JSONStrings.forEach(in: body) { string in
            guard !string.isKey, !string.hasEscapes, string.value.utf8.count > IDTrailer.length else { return }
            switch trailer.decode(string.value) {
            case .plain:
                break
            case .forged:
                forged = true
            case .routed(let id, let tag):
                tags.insert(tag)
                edits.append((string.valueStart + id.utf8.count, string.valueEnd, ""))
            }
        }
        return Inbound(body: Self.applying(edits, to: body), tags: tags, forged: forged)
    }

    /// `body` with each `(from, to)` byte range (relative to its readable bytes) replaced; nil for no edit.
    private static func applying(_ edits: [(Int, Int, String)], to body: ByteBuffer) -> ByteBuffer? {
        guard !edits.isEmpty else { return nil }
        var output = ByteBuffer()
        output.reserveCapacity(body.readableBytes + edits.count * IDTrailer.length)
        var cursor = 0
        for (from, to, insert) in edits {
            output.writeImmutableBuffer(body.getSlice(at: body.readerIndex + cursor, length: from - cursor)!)
            output.writeString(insert)
            cursor = to
        }
        output.writeImmutableBuffer(body.getSlice(at: body.readerIndex + cursor, length: body.readableBytes - cursor)!)
        return output
    }
}

/// The string literals of a JSON text, in order, with whether each is an object key and, for values, the key they
/// belong to. Tolerant: it reads SSE text (`data: {…}`) as well, since it only looks at quotes, colons and escapes.
enum JSONStrings {
    struct Literal {
        var value: String
        /// Offsets (in the readable bytes) of the first byte inside the quotes and of the closing quote.
        var valueStart: Int
        var valueEnd: Int
        var isKey: Bool
        /// For a value: the key written just before it in the same object.
        var key: String?
        var hasEscapes: Bool
    }

    static func forEach(in body: ByteBuffer, _ visit: (Literal) -> Void) {
        body.withUnsafeReadableBytes { bytes in
            var index = 0
            var lastKey: String?
            while index < bytes.count {
                guard bytes[index] == UInt8(ascii: "\"") else {
                    index += 1
                    continue
                }
                let start = index + 1
                var end = start
                var escapes = false
                while end < bytes.count, bytes[end] != UInt8(ascii: "\"") {
                    if bytes[end] == UInt8(ascii: "\\") {
                        escapes = true
                        end += 1
                    }
                    end += 1
                }
                guard end < bytes.count else { return }
                var next = end + 1
                while next < bytes.count, bytes[next] == 0x20 || bytes[next] == 0x09 || bytes[next] == 0x0A || bytes[next] == 0x0D {
                    next += 1
                }
                let isKey = next < bytes.count && bytes[next] == UInt8(ascii: ":")
                let value = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<end]), as: UTF8.self)
                visit(Literal(value: value, valueStart: start, valueEnd: end, isKey: isKey, key: isKey ? nil : lastKey,
                              hasEscapes: escapes))
                lastKey = isKey ? value : nil
                index = end + 1
            }
        }
    }
}
