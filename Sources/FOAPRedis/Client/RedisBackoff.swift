import NIOCore

/// How long to wait before the next connect attempt: doubling from `initial` up to `maximum`, each wait drawn
/// between half and all of it ("equal jitter"), so a fleet that lost Redis at once does not reconnect in lockstep.
public struct RedisBackoff: Sendable, Equatable {
    public var initial: TimeAmount
    public var maximum: TimeAmount

    public init(initial: TimeAmount = .milliseconds(100), maximum: TimeAmount = .seconds(5)) {
        self.initial = initial
        self.maximum = maximum
    }

    /// The wait after `failures` failed attempts in a row (1 or more).
    public func delay<Generator: RandomNumberGenerator>(
        afterFailures failures: Int,
        using generator: inout Generator
    ) -> TimeAmount {
        let doublings = min(max(failures - 1, 0), 30)
        let (scaled, overflow) = self.initial.nanoseconds.multipliedReportingOverflow(by: Int64(1) << doublings)
        let ceiling = overflow ? self.maximum.nanoseconds : min(scaled, self.maximum.nanoseconds)
        return .nanoseconds(Int64.random(in: (ceiling / 2)...max(ceiling, 1), using: &generator))
    }

    public func delay(afterFailures failures: Int) -> TimeAmount {
        var generator = SystemRandomNumberGenerator()
        return self.delay(afterFailures: failures, using: &generator)
    }
}
