import Glibc
import Synchronization

/// The shared destination of formatted log records: one file descriptor, one lock.
///
/// Every handler of a process (one per `Logger`, copied freely) writes through the same sink, so the sink is the
/// single place where records are serialised: each record is written under the lock, normally in one `write(2)`,
/// and a partial write is finished before the lock is released. Lines of different threads therefore never
/// interleave, which is what `StreamLogHandler` gets from `flockfile` — without stdio buffering, so a record is
/// on its way the moment `log` returns and nothing is lost when a worker exits abruptly.
///
/// - Important: The sink does not own its file descriptor and never closes it; whoever opened it keeps it open
///   for as long as a handler may log.
public final class LogSink: Sendable {
    /// The process's standard output, where JSON and text records go by default.
    public static let standardOutput = LogSink(fileDescriptor: STDOUT_FILENO)

    /// The descriptor records are written to.
    public let fileDescriptor: CInt

    /// Serialises whole records; it guards the descriptor's write position, not any Swift state.
    private let recordLock = Mutex<Void>(())

    /// - Parameter fileDescriptor: An open descriptor to write records to (stdout by default).
    public init(fileDescriptor: CInt = STDOUT_FILENO) {
        self.fileDescriptor = fileDescriptor
    }

    /// Writes one complete record.
    ///
    /// Retries on `EINTR`, continues after partial writes and waits with `poll(2)` when the descriptor is
    /// non-blocking and full. Any other error drops the rest of the record: a logger has nowhere to report its
    /// own failure, and throwing would make every log call site handle I/O errors.
    ///
    /// - Parameter record: The formatted record, including its trailing newline.
    public func write(_ record: [UInt8]) {
        record.withUnsafeBytes { self.write($0) }
    }

    /// Writes one complete record, as `write(_: [UInt8])` does.
    public func write(_ record: UnsafeRawBufferPointer) {
        self.recordLock.withLock { _ in
            _ = Self.writeFully(record, to: self.fileDescriptor)
        }
    }

    /// Writes all of `bytes`, returning `false` when the descriptor failed.
    static func writeFully(_ bytes: UnsafeRawBufferPointer, to fileDescriptor: CInt) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let written = Glibc.write(fileDescriptor, bytes.baseAddress! + offset, bytes.count - offset)
            if written >= 0 {
                offset += written
                continue
            }
            switch errno {
            case EINTR:
                continue
            case EAGAIN:
                var pending = pollfd(fd: fileDescriptor, events: Int16(POLLOUT), revents: 0)
                _ = poll(&pending, 1, -1)
            default:
                return false
            }
        }
        return true
    }
}
