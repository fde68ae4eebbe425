import NIOConcurrencyHelpers

/// A one-shot event that async code can await and any thread can fire (a signal handler, the worker channel).
public final class OneShotSignal: Sendable {
    private let state = NIOLockedValueBox<(fired: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    public init() {}

    public func fire() {
        let waiters = self.state.withLockedValue { state -> [CheckedContinuation<Void, Never>] in
            guard !state.fired else { return [] }
            state.fired = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Whether `fire()` was called.
    public var hasFired: Bool {
        self.state.withLockedValue { $0.fired }
    }

    public func wait() async {
        await withCheckedContinuation { continuation in
            let resumeNow = self.state.withLockedValue { state -> Bool in
                if state.fired { return true }
                state.waiters.append(continuation)
                return false
            }
            if resumeNow { continuation.resume() }
        }
    }
}
