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

    /// Fields in key order, as `JSONLogHandler` sorts record metadata.
    func write(_ record: AccessRecord) {
        self.writer.write(level: .info, message: "request") { fields in
            fields.append("bytes_in", record.bytesIn)
            fields.append("bytes_out", record.bytesOut)
            fields.append("client", record.client)
            fields.appendMilliseconds("duration_ms", nanoseconds: record.duration.nanoseconds)
            if let error = record.error { fields.append("error", error) }
            if let keyName = record.keyName { fields.append("key_name", keyName) }
            fields.append("method", record.method)
            if let model = record.model { fields.append("model", model) }
            if let provider = record.provider { fields.append("provider", provider) }
            fields.append("request_id", record.requestID)
            fields.append("route", record.route)
            fields.append("status", Int(record.status))
            fields.append("stream", record.stream ? "true" : "false")
            if let targetModel = record.targetModel { fields.append("target_model", targetModel) }
            if let ttfb = record.timeToFirstByte { fields.appendMilliseconds("ttfb_ms", nanoseconds: ttfb.nanoseconds) }
            if let upstream = record.upstream { fields.append("upstream", upstream) }
            if let upstreamStatus = record.upstreamStatus { fields.append("upstream_status", Int(upstreamStatus)) }
        }
    }
}
