import Logging

/// Writes JSON text straight into a byte buffer.
///
/// Log records only ever contain strings, objects and arrays (metadata values are strings, nested dictionaries or
/// arrays), so this small writer replaces `JSONEncoder`, which would cost an allocation-heavy `Encodable` walk per
/// access-log line. Swift `String`s are always valid Unicode, so escaping is limited to what RFC 8259 requires:
/// quotation mark, reverse solidus and the control characters U+0000–U+001F.
enum JSONBytes {
    /// Appends `string` as a quoted JSON string.
    static func appendString(_ string: String, to buffer: inout [UInt8]) {
        buffer.append(UInt8(ascii: "\""))
        self.appendEscaped(string, to: &buffer)
        buffer.append(UInt8(ascii: "\""))
    }

    /// Appends the body of a JSON string (no quotes), escaping what RFC 8259 requires.
    static func appendEscaped(_ string: String, to buffer: inout [UInt8]) {
        let handled: Void? = string.utf8.withContiguousStorageIfAvailable { bytes in
            self.appendEscaped(bytes: bytes, to: &buffer)
        }
        if handled == nil {
            self.appendEscaped(bytes: Array(string.utf8), to: &buffer)
        }
    }

    /// Appends a metadata value: strings (and `stringConvertible` descriptions) as JSON strings, dictionaries as
    /// objects with sorted keys (so equal metadata always renders equally), arrays as arrays.
    static func appendValue(_ value: Logger.MetadataValue, to buffer: inout [UInt8]) {
        switch value {
        case .string(let string):
            self.appendString(string, to: &buffer)
        case .stringConvertible(let convertible):
            self.appendString(convertible.description, to: &buffer)
        case .dictionary(let dictionary):
            buffer.append(UInt8(ascii: "{"))
            var first = true
            for key in dictionary.keys.sorted() {
                if !first {
                    buffer.append(UInt8(ascii: ","))
                }
                first = false
                self.appendString(key, to: &buffer)
                buffer.append(UInt8(ascii: ":"))
                self.appendValue(dictionary[key]!, to: &buffer)
            }
            buffer.append(UInt8(ascii: "}"))
        case .array(let array):
            buffer.append(UInt8(ascii: "["))
            for (index, element) in array.enumerated() {
                if index > 0 {
                    buffer.append(UInt8(ascii: ","))
                }
                self.appendValue(element, to: &buffer)
            }
            buffer.append(UInt8(ascii: "]"))
        }
    }

    /// Copies runs of bytes that need no escaping in one go; only the rare special byte takes the slow path.
    private static func appendEscaped<Bytes: RandomAccessCollection>(bytes: Bytes, to buffer: inout [UInt8])
    where Bytes.Element == UInt8, Bytes.Index == Int {
        var runStart = bytes.startIndex
        var index = bytes.startIndex
        while index < bytes.endIndex {
            let byte = bytes[index]
            if byte >= 0x20 && byte != UInt8(ascii: "\"") && byte != UInt8(ascii: "\\") {
                index += 1
                continue
            }
            buffer.append(contentsOf: bytes[runStart..<index])
            self.appendEscape(for: byte, to: &buffer)
            index += 1
            runStart = index
        }
        buffer.append(contentsOf: bytes[runStart..<index])
    }

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    private static func appendEscape(for byte: UInt8, to buffer: inout [UInt8]) {
        buffer.append(UInt8(ascii: "\\"))
        switch byte {
        case UInt8(ascii: "\""): buffer.append(UInt8(ascii: "\""))
        case UInt8(ascii: "\\"): buffer.append(UInt8(ascii: "\\"))
        case 0x08: buffer.append(UInt8(ascii: "b"))
        case 0x0C: buffer.append(UInt8(ascii: "f"))
        case 0x0A: buffer.append(UInt8(ascii: "n"))
        case 0x0D: buffer.append(UInt8(ascii: "r"))
        case 0x09: buffer.append(UInt8(ascii: "t"))
        default:
            buffer.append(contentsOf: [UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0")])
            buffer.append(self.hexDigits[Int(byte >> 4)])
            buffer.append(self.hexDigits[Int(byte & 0x0F)])
        }
    }
}
