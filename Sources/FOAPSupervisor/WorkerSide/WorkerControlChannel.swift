import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The worker's end of the control socketpair.
///
/// Sending never blocks (MSG_DONTWAIT; a full queue drops the message, which for heartbeats is harmless since the next
/// one follows in 0.5 s), so it is safe from an event loop. Receiving runs on its own thread, blocked in `recv`,
/// because the only master → worker message (`drain`) is rare and must not need the event loop's cooperation.
public final class WorkerControlChannel: Sendable {
    private let fd: Int32
    private let receiving = Atomic<Bool>(false)

    /// - Parameter fd: the inherited control socket (`WorkerEnvironment.controlFD`). The channel does not close it:
    ///   the worker keeps it until exit, and its closing is what tells the master the worker is gone.
    public init(fd: Int32) {
        self.fd = fd
    }

    /// Sends one message; EAGAIN (queue full) and EPIPE (master gone, noticed by the receiver) are ignored.
    public func send(_ message: WorkerMessage) {
        let word = message.rawValue
        _ = word.utf8CString.withUnsafeBufferPointer { buffer in
            retryingOnInterrupt {
                Glibc.send(self.fd, buffer.baseAddress, buffer.count - 1, Int32(MSG_DONTWAIT | MSG_NOSIGNAL))
            }
        }
    }

    /// Starts a dedicated thread that blocks in `recv`: calls `onAccept` when `accept` arrives, `onDrain` when
    /// `drain` arrives and `onMasterGone` on EOF or error (a worker whose master vanished should drain and exit).
    /// Each is called at most once.
    /// - Important: call it once; the thread ends after `onMasterGone`.
    public func startReceiving(
        onAccept: @escaping @Sendable () -> Void = {},
        onDrain: @escaping @Sendable () -> Void,
        onMasterGone: @escaping @Sendable () -> Void
    ) {
        let alreadyStarted = self.receiving.exchange(true, ordering: .relaxed)
        precondition(!alreadyStarted, "WorkerControlChannel.startReceiving called twice")
        let fd = self.fd
        let thread = Thread {
            var drained = false
            var accepted = false
            var buffer = [UInt8](repeating: 0, count: 64)
            while true {
                let count = buffer.withUnsafeMutableBytes { bytes in
                    retryingOnInterrupt { recv(fd, bytes.baseAddress, bytes.count, 0) }
                }
                if count <= 0 {
                    onMasterGone()
                    return
                }
                switch MasterMessage(rawValue: String(decoding: buffer[0..<count], as: UTF8.self)) {
                case .drain where !drained:
                    drained = true
                    onDrain()
                case .accept where !accepted:
                    accepted = true
                    onAccept()
                default:
                    break  // a repeat, or a word this worker does not know
                }
            }
        }
        thread.name = "foap-control"
        thread.start()
    }
}
