import CFOAPSpawn

#if canImport(Glibc)
import Glibc
#endif

/// The master's signals as readable events on a signalfd, so the poll loop handles them like any other input.
///
/// The signals are blocked first (pthread_sigmask), otherwise their default action would still kill the process.
/// Blocking applies to the calling thread and threads it creates later; a thread started earlier that leaves them
/// unblocked would receive them instead, which is why `Supervisor.run()` must be called before any such thread.
final class SignalSource {
    let fd: Int32

    init(signals: [Int32]) throws {
        let fd = signals.withUnsafeBufferPointer { cfoap_signalfd_open($0.baseAddress, Int32($0.count)) }
        guard fd >= 0 else {
            throw SystemCallError("signalfd")
        }
        self.fd = fd
    }

    deinit {
        close(self.fd)
    }

    /// Every pending signal, in arrival order (the same signal pending twice is reported once, as the kernel does).
    func readPending() -> [Int32] {
        var signals: [Int32] = []
        while true {
            let signal = cfoap_signalfd_read(self.fd)
            guard signal > 0 else {
                return signals
            }
            signals.append(signal)
        }
    }
}
