/// Why bytes from the server are not RESP: the connection is closed on any of these, since nothing after a
/// malformed reply can be trusted to line up with its request.
public struct RESPDecodingError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Reason: Sendable, Equatable {
        /// The first byte of a value is none of RESP's type markers.
        case unknownType(UInt8)
        /// A header line's length or number is not a valid decimal integer.
        case invalidNumber
        /// A line or a bulk value does not end in CRLF where it must.
        case missingCRLF
        /// Aggregates nest deeper than the limit (a "depth bomb").
        case tooDeep(limit: Int)
        /// A bulk value, line or aggregate is larger than the limit.
        case tooLarge(limit: Int)
        /// A boolean, double or verbatim format that RESP3 does not define.
        case invalidValue
    }

    public let reason: Reason

    public init(_ reason: Reason) {
        self.reason = reason
    }

    public var description: String {
        switch self.reason {
        case .unknownType(let byte):
            let printable = (0x21...0x7E).contains(byte) ? " ('\(Character(UnicodeScalar(byte)))')" : ""
            return "not RESP: unknown type byte 0x\(String(byte, radix: 16))\(printable)"
        case .invalidNumber:
            return "not RESP: a length or integer is not a decimal number"
        case .missingCRLF:
            return "not RESP: a line or bulk value does not end in CRLF"
        case .tooDeep(let limit):
            return "RESP reply nests deeper than \(limit) levels"
        case .tooLarge(let limit):
            return "RESP reply element is larger than the limit of \(limit)"
        case .invalidValue:
            return "not RESP: an invalid boolean, double or verbatim string"
        }
    }
}
