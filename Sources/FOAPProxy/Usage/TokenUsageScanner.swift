import NIOCore

#if canImport(Glibc)
import Glibc
#endif

/// Token counts an answer reported, as the access record keeps them.
struct TokenUsage: Equatable {
    /// `prompt_tokens` (chat, completions, embeddings) or `input_tokens` (responses).
    var prompt: Int?
    /// `completion_tokens` or `output_tokens`.
    var completion: Int?
}

/// Reads `usage` from an answer as it streams past, without parsing or rebuilding it.
///
/// OpenAI-compatible servers report usage as `"prompt_tokens":N,"completion_tokens":N` (chat, completions,
/// embeddings; in a stream, in the final chunk when `stream_options.include_usage` is set) or `"input_tokens":N,
/// "output_tokens":N` (the responses API's final `response.completed` event). Those keys with an unescaped quote
/// can only be JSON keys — inside a string the quotes would be escaped — so a byte search is exact. Later
/// occurrences win, so the final chunk's totals replace any running counts. A key split between two body parts is
/// found through a short carry of the previous part's tail; of a large part only the tail is searched (usage sits
/// at the end of an answer), which keeps a big embeddings answer from costing a scan of every byte.
struct TokenUsageScanner {
    private(set) var usage = TokenUsage()
    /// The previous part's last bytes (a slice: no copy unless another part follows).
    private var carry: ByteBuffer?

    /// Bytes of a part that are searched: the tail (usage is at the end of an answer, or of the last event).
    static let searchedTail = 8 * 1024
    /// Enough for the longest key, its colon, blanks and a number cut at the part's end.
    static let carryLength = 64

    /// What every key ends with; found from `_` to `_`, so a small answer costs a handful of memchr calls.
    /// `_tokens"`, eight bytes, as a little-endian word: one compare per `_`, not a `memcmp` call.
    static let suffixWord: UInt64 = 0x2273_6E65_6B6F_745F
    private static let suffixLength = MemoryLayout<UInt64>.size
    /// The part of each key before the suffix, with its opening quote.
    private static let stems: [(bytes: [UInt8], isPrompt: Bool)] = [
        (Array(#""prompt"#.utf8), true),
        (Array(#""input"#.utf8), true),
        (Array(#""completion"#.utf8), false),
        (Array(#""output"#.utf8), false),
    ]

    mutating func scan(_ buffer: ByteBuffer) {
        let count = buffer.readableBytes
        guard count > 0 else { return }
        let length = min(count, Self.searchedTail)
        let tail = buffer.getSlice(at: buffer.writerIndex - length, length: length)!
        if var joined = self.carry {
            joined.writeImmutableBuffer(tail)
            joined.withUnsafeReadableBytes { self.search($0) }
        } else {
            tail.withUnsafeReadableBytes { self.search($0) }
        }
        let kept = min(length, Self.carryLength)
        self.carry = tail.getSlice(at: tail.writerIndex - kept, length: kept)
    }

    /// Finds each `_tokens"` and looks back for one of the stems (`"prompt`, `"input`, `"completion`, `"output`).
    private mutating func search(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress else { return }
        let suffixLength = Self.suffixLength
        var index = 0
        while index + suffixLength <= bytes.count {
            // memchr to each `_` (a few per answer: finish_reason, prompt_tokens, …), then the rest of the suffix.
            guard let found = memchr(base + index, Int32(UInt8(ascii: "_")), bytes.count - index - suffixLength + 1)
            else { return }
            let hit = base.distance(to: UnsafeRawPointer(found))
            index = hit + 1
            guard UInt64(littleEndian: (base + hit).loadUnaligned(as: UInt64.self)) == Self.suffixWord else {
                continue
            }
            index = hit + suffixLength
            for stem in Self.stems where hit >= stem.bytes.count {
                // A stem is a few bytes: compared in place (a `memcmp` call cost more than the compare).
                let matches = stem.bytes.withUnsafeBytes { stemBytes in
                    let start = base + hit - stemBytes.count
                    return stemBytes.indices.allSatisfy {
                        start.load(fromByteOffset: $0, as: UInt8.self) == stemBytes[$0]
                    }
                }
                guard matches else { continue }
                if let value = Self.number(in: bytes, after: index) {
                    if stem.isPrompt {
                        self.usage.prompt = value
                    } else {
                        self.usage.completion = value
                    }
                }
                break
            }
        }
    }

    /// `: 123` after a key: the number, if it is complete (a digit run cut by the part's end is read next time).
    private static func number(in bytes: UnsafeRawBufferPointer, after start: Int) -> Int? {
        var index = start
        while index < bytes.count, bytes[index] == UInt8(ascii: " ") { index += 1 }
        guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { return nil }
        index += 1
        while index < bytes.count, bytes[index] == UInt8(ascii: " ") { index += 1 }
        var value = 0
        var digits = 0
        while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]), digits < 18 {
            value = value * 10 + Int(bytes[index] - UInt8(ascii: "0"))
            digits += 1
            index += 1
        }
        guard digits > 0, index < bytes.count else { return nil }
        return value
    }
}
