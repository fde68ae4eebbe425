import Dispatch
import NIOConcurrencyHelpers

#if canImport(Glibc)
import Glibc
#endif

/// Delivers signals to a closure on a Dispatch queue (worker and single-process modes; the master uses signalfd).
public final class SignalWatcher {
    private let sources: [any DispatchSourceSignal]

    public init(signals: [Int32], handler: @escaping @Sendable (Int32, Int) -> Void) {
        let queue = DispatchQueue(label: "foap.signals")
        let counter = NIOLockedCounter()
        self.sources = signals.map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
            source.setEventHandler { handler(number, counter.increment()) }
            source.resume()
            return source
        }
    }
}

/// A thread-safe counter.
private final class NIOLockedCounter: Sendable {
    private let value = NIOLockedValueBox(0)
    func increment() -> Int { self.value.withLockedValue { $0 += 1; return $0 } }
}
