import NIOCore

/// `inject_stream_usage`: a chat or completions stream that does not ask for usage gets
/// `"stream_options":{"include_usage":true}` added, so the upstream reports its token counts in a last chunk; that
/// chunk (`"choices":[]` with a `usage` object) is then taken out of the stream the client sees, because the client
/// did not ask for it. Every other byte of the request and of the stream passes unchanged.
enum StreamUsageInjection {
    static let member = #","stream_options":{"include_usage":true}"#

    /// Whether `inspection` is a request to add the member to (on a route whose traits allow it: chat and
    /// completions).
    static func applies(to inspection: JSONBodyInspection) -> Bool {
        inspection.stream && !inspection.hasStreamOptions
    }

    /// `body` with the member inserted before the top-level object's closing brace (after every member, so the
    /// `model` ranges of the inspection stay where they are).
    static func inject(into body: ByteBuffer, closingBrace: Int) -> ByteBuffer {
        var output = ByteBuffer()
        output.reserveCapacity(body.readableBytes + Self.member.utf8.count)
        output.writeImmutableBuffer(body.getSlice(at: body.readerIndex, length: closingBrace)!)
        output.writeString(Self.member)
        output.writeImmutableBuffer(
            body.getSlice(at: body.readerIndex + closingBrace, length: body.readableBytes - closingBrace)!
        )
        return output
    }
}

/// Recognises the usage-only chunk that `inject_stream_usage` asked for (`StreamEventFilter` drops it).
enum UsageChunkFilter {
    private static let choicesKey = Array(#""choices""#.utf8)
    private static let usageKey = Array(#""usage""#.utf8)

    /// An event whose JSON has `"choices": []` and a `"usage": {` object, whatever whitespace the upstream writes
    /// between the tokens (Python's `json.dumps` writes `"choices": []`).
    static func isUsageChunk(_ event: ArraySlice<UInt8>) -> Bool {
        Self.containsMember(event, key: Self.choicesKey, value: [UInt8(ascii: "["), UInt8(ascii: "]")])
            && Self.containsMember(event, key: Self.usageKey, value: [UInt8(ascii: "{")])
    }

    /// Whether `key`, then `:`, then the bytes of `value` occur in `event`, with only JSON whitespace between them.
    private static func containsMember(_ event: ArraySlice<UInt8>, key: [UInt8], value: [UInt8]) -> Bool {
        var start = event.startIndex
        while let found = Self.firstIndex(of: key, in: event[start...]) {
            var index = Self.skippingWhitespace(event, from: found + key.count)
            if index < event.endIndex, event[index] == UInt8(ascii: ":") {
                index = Self.skippingWhitespace(event, from: index + 1)
                var matched = true
                for byte in value {
                    guard index < event.endIndex, event[index] == byte else {
                        matched = false
                        break
                    }
                    index = Self.skippingWhitespace(event, from: index + 1)
                }
                if matched { return true }
            }
            start = found + 1
        }
        return false
    }

    private static func skippingWhitespace(_ bytes: ArraySlice<UInt8>, from start: Int) -> Int {
        var index = start
        while index < bytes.endIndex,
            bytes[index] == 0x20 || bytes[index] == 0x09 || bytes[index] == 0x0A || bytes[index] == 0x0D
        {
            index += 1
        }
        return index
    }

    private static func firstIndex(of needle: [UInt8], in haystack: ArraySlice<UInt8>) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        var index = haystack.startIndex
        while index + needle.count <= haystack.endIndex {
            if haystack[index] == needle[0], haystack[index..<(index + needle.count)].elementsEqual(needle) {
                return index
            }
            index += 1
        }
        return nil
    }
}
