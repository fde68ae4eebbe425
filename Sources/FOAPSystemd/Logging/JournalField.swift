import Logging

/// One field of a journal record: its name and raw value bytes.
typealias JournalField = (name: String, value: [UInt8])

/// How log levels and metadata values become journal fields.
enum JournalFields {
    /// The syslog priority journald stores in `PRIORITY`. swift-log has no level for syslog's `alert` (1) and
    /// `emerg` (0), and `trace` has none of its own, so it shares `debug` (7).
    static func priority(of level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: return 7
        case .info: return 6
        case .notice: return 5
        case .warning: return 4
        case .error: return 3
        case .critical: return 2
        }
    }

    /// A metadata entry as a journal field: `FOAP_<KEY>` with the value's bytes.
    static func field(forKey key: String, value: Logger.MetadataValue) -> JournalField {
        (JournalFieldName.make(forMetadataKey: key), self.bytes(of: value))
    }

    /// Strings go as they are (newlines included: the sender handles them); nested dictionaries and arrays as
    /// JSON, so `journalctl -o json` shows them whole and tools can parse them.
    static func bytes(of value: Logger.MetadataValue) -> [UInt8] {
        switch value {
        case .string(let string):
            return Array(string.utf8)
        case .stringConvertible(let convertible):
            return Array(convertible.description.utf8)
        case .dictionary, .array:
            var json: [UInt8] = []
            JSONBytes.appendValue(value, to: &json)
            return json
        }
    }
}
