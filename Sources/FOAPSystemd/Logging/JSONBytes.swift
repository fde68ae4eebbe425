import FOAPJSON
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
        buffer.appendJSONString(string)
    }

    /// Appends the body of a JSON string (no quotes), escaping what RFC 8259 requires.
    static func appendEscaped(_ string: String, to buffer: inout [UInt8]) {
        buffer.appendJSONStringBody(string)
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
}
