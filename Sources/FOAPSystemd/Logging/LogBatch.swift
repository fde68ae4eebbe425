/// Whole records gathered to be written together, in order, in one `write(2)`: the access lines of one event-loop
/// iteration (the foap executable's `JSONAccessLogWriter`), where writing each line on its own cost a system call
/// per proxied request. Made by `JSONRecordWriter.makeBatch()`, so its records go where the writer's do.
///
/// Not thread-safe: each event loop has its own. What it holds goes to the same `LogSink` as every other record of
/// the process, each flush under the sink's lock, so batches and single records never interleave within a line.
public final class LogBatch {
    /// Past this many bytes the batch is written at once, without waiting for its flush.
    public static let flushThreshold = 64 * 1024

    private let sink: LogSink
    private var bytes: [UInt8] = []
    /// The text of the second the batch's records were last written in.
    var timestamps = TimestampCache()

    init(sink: LogSink) {
        self.sink = sink
        self.bytes.reserveCapacity(Self.flushThreshold + 4096)
    }

    /// Nothing waits to be written.
    public var isEmpty: Bool { self.bytes.isEmpty }

    /// Adds one whole record (its trailing newline included).
    func append(_ record: UnsafeRawBufferPointer) {
        self.bytes.append(contentsOf: record)
        if self.bytes.count >= Self.flushThreshold {
            self.flush()
        }
    }

    /// Writes what the batch holds, in one record-sized write as far as the descriptor takes it.
    public func flush() {
        guard !self.bytes.isEmpty else { return }
        self.sink.write(self.bytes)
        self.bytes.removeAll(keepingCapacity: true)
    }
}

@available(*, unavailable)
extension LogBatch: Sendable {}
