/// Delay before restarting a worker that exited unexpectedly in a slot.
///
/// The first crash is replaced at once (a one-off crash should cost nothing); repeated crashes wait 100 ms, then
/// double up to 10 s, so a worker that dies at start does not spin the CPU. A worker that stayed up for `resetAfter`
/// proves the slot healthy and resets the sequence.
struct RespawnBackoff {
    let initialDelay: Duration
    let maximumDelay: Duration
    let resetAfter: Duration
    /// Crashes in a row without a long enough uptime in between.
    private(set) var consecutiveCrashes = 0

    init(
        initialDelay: Duration = .milliseconds(100),
        maximumDelay: Duration = .seconds(10),
        resetAfter: Duration = .seconds(30)
    ) {
        self.initialDelay = initialDelay
        self.maximumDelay = maximumDelay
        self.resetAfter = resetAfter
    }

    /// A worker that had been running for `uptime` crashed.
    /// - Returns: how long to wait before spawning its replacement.
    mutating func delayAfterCrash(uptime: Duration) -> Duration {
        if uptime >= self.resetAfter {
            self.consecutiveCrashes = 0
        }
        defer { self.consecutiveCrashes += 1 }
        guard self.consecutiveCrashes > 0 else {
            return .zero
        }
        var delay = self.initialDelay
        for _ in 1..<self.consecutiveCrashes where delay < self.maximumDelay {
            delay *= 2
        }
        return min(delay, self.maximumDelay)
    }

    /// The slot got a fresh start (new generation): forget past crashes.
    mutating func reset() {
        self.consecutiveCrashes = 0
    }
}
