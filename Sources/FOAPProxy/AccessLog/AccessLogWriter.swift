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
        // Built with room for every optional field (no rehash), and plain `.string` values: `.stringConvertible`
        // boxes each number in an existential that the handler then has to describe.
        var metadata = Logger.Metadata(minimumCapacity: 18)
        record.forEachField { key, value in
            metadata[key.description] = .string(value.text)
        }
        self.logger.info("request", metadata: metadata)
    }
}
