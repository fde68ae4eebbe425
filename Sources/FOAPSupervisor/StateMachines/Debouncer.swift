/// Collapses a burst of file events into one rescan, `delay` after the last event.
///
/// An editor's save or a Kubernetes `..data` swap is several events in a few milliseconds; none says enough on its
/// own, so the master waits for quiet and then rescans the whole directory once.
struct Debouncer {
    /// Quiet time required after the last event.
    let delay: Duration
    /// When the rescan is due, or `nil` when no event is pending.
    private(set) var deadline: ContinuousClock.Instant?

    init(delay: Duration) {
        self.delay = delay
    }

    /// An event arrived: push the deadline out to `now + delay`.
    mutating func eventReceived(now: ContinuousClock.Instant) {
        self.deadline = now + self.delay
    }

    /// - Returns: `true` once the quiet time has passed since the last event; the debouncer is then idle again.
    mutating func fireIfDue(now: ContinuousClock.Instant) -> Bool {
        guard let deadline = self.deadline, deadline <= now else {
            return false
        }
        self.deadline = nil
        return true
    }
}
