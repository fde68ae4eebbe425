/// A JSON object member's name fixed ahead of time, with its `,"name":` prefix rendered once: a record writer
/// appends one run per member instead of punctuation, name and punctuation (three appends per member, ~2,000
/// instructions per access line in bench/profile).
///
/// Names are plain snake_case (never escaped). A string literal makes one, which renders the prefix there and
/// then: writers on a hot path keep theirs in `static let`s.
public struct JSONMemberName: Sendable, CustomStringConvertible, ExpressibleByStringLiteral {
    /// The name itself.
    public let description: String
    /// `,"name":`
    public let prefix: [UInt8]

    public init(_ name: StaticString) {
        self.description = name.description
        var prefix: [UInt8] = [UInt8(ascii: ",")]
        prefix.appendJSONString(self.description)
        prefix.append(UInt8(ascii: ":"))
        self.prefix = prefix
    }

    public init(stringLiteral name: StaticString) {
        self.init(name)
    }
}
