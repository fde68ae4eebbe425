/// One entry of a client key's `models` list: an exact model id, or a glob where `*` stands for any run of
/// characters (including none, and including `/`).
///
/// `*` crosses `/` on purpose: model ids are flat strings that merely contain slashes (`meta-llama/Llama-3.1-8B`),
/// so `meta-llama/*` and `*llama*` both mean what an operator expects. No other character is special: model ids
/// may contain `?`, `[` or `.`, and a pattern for them should not change meaning.
public struct ModelPattern: Sendable, Equatable, Codable, CustomStringConvertible {
    /// The pattern as written in the key file.
    public let text: String
    private let segments: [[UInt8]]
    private let hasWildcard: Bool

    public init(_ text: String) {
        self.text = text
        self.segments = text.utf8.split(separator: UInt8(ascii: "*"), omittingEmptySubsequences: false).map(Array.init)
        self.hasWildcard = self.segments.count > 1
    }

    public var description: String {
        self.text
    }

    /// Whether `id` is matched. Byte-wise on UTF-8, so it never depends on Unicode normalisation.
    ///
    /// The first segment must be a prefix, the last a suffix, and the ones between are found left to right at their
    /// earliest position. For globs whose only wildcard is `*` that choice is never wrong, so no backtracking.
    public func matches(_ id: String) -> Bool {
        guard self.hasWildcard else {
            return id == self.text
        }
        let bytes = Array(id.utf8)
        let first = self.segments[0]
        let last = self.segments[self.segments.count - 1]
        guard bytes.count >= first.count + last.count, bytes.starts(with: first),
            bytes[(bytes.count - last.count)...].elementsEqual(last)
        else {
            return false
        }
        var position = first.count
        let end = bytes.count - last.count
        for segment in self.segments.dropFirst().dropLast() where !segment.isEmpty {
            guard let found = Self.find(segment, in: bytes, from: position, before: end) else {
                return false
            }
            position = found + segment.count
        }
        return true
    }

    /// The first index `i` in `from..<before` where `needle` fits entirely before `before`.
    private static func find(_ needle: [UInt8], in haystack: [UInt8], from start: Int, before end: Int) -> Int? {
        guard end - start >= needle.count else {
            return nil
        }
        for index in start...(end - needle.count) where haystack[index..<index + needle.count].elementsEqual(needle) {
            return index
        }
        return nil
    }

    public init(from decoder: any Decoder) throws {
        self.init(try decoder.singleValueContainer().decode(String.self))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(self.text)
    }

    public static func == (lhs: ModelPattern, rhs: ModelPattern) -> Bool {
        lhs.text == rhs.text
    }
}
