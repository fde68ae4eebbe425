import FOAPJSON
import FOAPProxy
import FOAPSystemd
import Logging

/// The access log of a process that logs JSON lines: each record's fields rendered straight into the line
/// (FOAPSystemd's `JSONRecordWriter`), the same line `JSONLogHandler` would write for the metadata path.
struct JSONAccessLogWriter: AccessLogWriter {
    let writer: JSONRecordWriter

    /// The writer for these settings, or nil when records should go through swift-log: another format (journal
    /// fields and text lines keep their handlers) or a level above `info` (no access records at all).
    ///
    /// - Parameter metadata: the process metadata the log handlers were bootstrapped with.
    static func make(settings: Settings, metadata: Logger.Metadata, environment: [String: String]) -> Self? {
        guard settings.logFormat.resolved(environment: environment) == .json, settings.logLevel <= .info else {
            return nil
        }
        return JSONAccessLogWriter(writer: JSONRecordWriter(label: "foap", metadata: metadata))
    }

    func write(_ record: AccessRecord) {
        self.writer.write(level: .info, message: "request") { fields in
            record.forEachField { key, value in
                switch value {
                case .text(let text): fields.append(key, text)
                case .integer(let number): fields.append(key, number)
                case .milliseconds(let amount): fields.append(key, thousandths: AccessField.microseconds(amount))
                }
            }
        }
    }
}
