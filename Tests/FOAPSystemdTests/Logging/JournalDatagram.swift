/// Decodes a datagram of journald's native protocol, as `sd_journal_sendv` writes it to
/// /run/systemd/journal/socket: a sequence of fields, each either `NAME=value\n` or, when the value may contain
/// a newline, `NAME\n` followed by the value's length as a little-endian UInt64, the value and `\n`.
enum JournalDatagram {
    struct DecodingError: Error, CustomStringConvertible {
        var description: String
    }

    static func decode(_ bytes: [UInt8]) throws -> [(name: String, value: [UInt8])] {
        var fields: [(name: String, value: [UInt8])] = []
        var index = 0
        while index < bytes.count {
            guard let end = bytes[index...].firstIndex(where: { $0 == UInt8(ascii: "=") || $0 == UInt8(ascii: "\n") })
            else {
                throw DecodingError(description: "field at \(index) has no terminator")
            }
            let name = String(decoding: bytes[index..<end], as: UTF8.self)
            if bytes[end] == UInt8(ascii: "=") {
                guard let newline = bytes[end...].firstIndex(of: UInt8(ascii: "\n")) else {
                    throw DecodingError(description: "field \(name) has no newline")
                }
                fields.append((name, Array(bytes[(end + 1)..<newline])))
                index = newline + 1
            } else {
                let lengthStart = end + 1
                guard lengthStart + 8 <= bytes.count else {
                    throw DecodingError(description: "field \(name) has a truncated length")
                }
                var length = 0
                for (shift, byte) in bytes[lengthStart..<(lengthStart + 8)].enumerated() {
                    length |= Int(byte) << (8 * shift)
                }
                let valueStart = lengthStart + 8
                guard valueStart + length < bytes.count, bytes[valueStart + length] == UInt8(ascii: "\n") else {
                    throw DecodingError(description: "field \(name) has a bad binary value")
                }
                fields.append((name, Array(bytes[valueStart..<(valueStart + length)])))
                index = valueStart + length + 1
            }
        }
        return fields
    }
}
