import FOAPJSON
import FOAPProxy
import FOAPSystemd
import Logging
import NIOCore
import NIOPosix

/// The access log of a process that logs JSON lines: each record's fields rendered straight into the line
/// (FOAPSystemd's `JSONRecordWriter`), the same line `JSONLogHandler` would write for the metadata path.
///
/// Records finished on an event loop are gathered and written together when the loop's current iteration ends
/// (one `write(2)` for every request that finished in it, not one per request): no record waits for a timer or
/// for more traffic, and a busy worker saves a system call per request. A worker that dies abruptly loses at most
/// the records of the iteration it died in.
struct JSONAccessLogWriter: AccessLogWriter {
    let writer: JSONRecordWriter
    /// `"level":"info","msg":"request"` and the process metadata, rendered once.
    private let opening: JSONRecordWriter.Opening

    init(writer: JSONRecordWriter) {
        self.writer = writer
        self.opening = writer.opening(level: .info, message: "request")
    }

    /// The records of one event loop's current iteration, and whether their flush is queued on it.
    private final class LoopBatch {
        let records: LogBatch
        var flushQueued = false

        init(records: LogBatch) {
            self.records = records
        }
    }

    /// One batch per event loop thread. `nonisolated(unsafe)`: a thread-specific variable hands each thread its
    /// own value, so no batch is ever seen by two threads (which is why `LoopBatch` need not be `Sendable`).
    nonisolated(unsafe) private static let batches = ThreadSpecificVariable<LoopBatch>()

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
        guard let loop = MultiThreadedEventLoopGroup.currentEventLoop else {
            // Not on an event loop (no exchange finishes elsewhere today): written at once.
            self.writer.write(level: .info, message: "request", into: nil) { Self.render(record, into: &$0) }
            return
        }
        let batch = self.loopBatch()
        self.writer.write(self.opening, into: batch.records) { Self.render(record, into: &$0) }
        guard !batch.flushQueued, !batch.records.isEmpty else { return }
        batch.flushQueued = true
        // Runs after the events of this iteration, in the same iteration: the loop queues no wake-up for a task
        // it executes itself.
        loop.assumeIsolated().execute {
            batch.flushQueued = false
            batch.records.flush()
        }
    }

    private func loopBatch() -> LoopBatch {
        if let batch = Self.batches.currentValue {
            return batch
        }
        let batch = LoopBatch(records: self.writer.makeBatch())
        Self.batches.currentValue = batch
        return batch
    }

    private static func render(_ record: AccessRecord, into fields: inout JSONMembers) {
        record.forEachField { key, value in
            switch value {
            case .text(let text): fields.append(key, text)
            case .integer(let number): fields.append(key, number)
            case .milliseconds(let amount): fields.append(key, thousandths: AccessField.microseconds(amount))
            case .generatedRequestID(let number):
                fields.append(key, prefix: AccessField.generatedRequestIDPrefix, number: number)
            }
        }
    }
}
