import Logging

/// Where a worker's access records go: one call per finished request, on the connection's event loop.
///
/// The default writes through swift-log (`LoggerAccessLogWriter`), which serves every log format. A process that
/// logs JSON lines can install a writer that renders the record's fields directly (the `foap` executable does),
/// since the access log is the one record written at request rate.
public protocol AccessLogWriter: Sendable {
    func write(_ record: AccessRecord)
}

/// Writes each record as an `info` message `request` with its fields as metadata; nothing is built when the
/// logger does not want `info`.
public struct LoggerAccessLogWriter: AccessLogWriter {
    public let logger: Logger

    public init(logger: Logger) {
        self.logger = logger
    }

    public func write(_ record: AccessRecord) {
        guard self.logger.logLevel <= .info else { return }
        // Built with room for every optional field (no rehash) and plain `.string` values: `.stringConvertible`
        // boxes each number in an existential that the handler then has to describe.
        var metadata = Logger.Metadata(minimumCapacity: 18)
        metadata["request_id"] = .string(record.requestID)
        metadata["client"] = .string(record.client)
        metadata["method"] = .string(record.method)
        metadata["route"] = .string(record.route)
        metadata["status"] = .string(String(record.status))
        metadata["stream"] = .string(record.stream ? "true" : "false")
        metadata["bytes_in"] = .string(String(record.bytesIn))
        metadata["bytes_out"] = .string(String(record.bytesOut))
        metadata["duration_ms"] = .string(AccessRecord.milliseconds(record.duration))
        if let model = record.model { metadata["model"] = .string(model) }
        if let keyName = record.keyName { metadata["key_name"] = .string(keyName) }
        if let provider = record.provider { metadata["provider"] = .string(provider) }
        if let targetModel = record.targetModel { metadata["target_model"] = .string(targetModel) }
        if let upstream = record.upstream { metadata["upstream"] = .string(upstream) }
        if let upstreamStatus = record.upstreamStatus { metadata["upstream_status"] = .string(String(upstreamStatus)) }
        if let ttfb = record.timeToFirstByte { metadata["ttfb_ms"] = .string(AccessRecord.milliseconds(ttfb)) }
        if let error = record.error { metadata["error"] = .string(error) }
        self.logger.info("request", metadata: metadata)
    }
}
