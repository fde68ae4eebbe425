import NIOConcurrencyHelpers
import NIOCore

/// A circuit breaker for the limits backend, shared by a worker's event loops: after `threshold` consecutive
/// failures Redis is not asked for `coolDown` (requests take the fallback at once instead of each waiting out the
/// timeout), then one request tries again. It also keeps the log to one line per `logInterval`, not per request.
///
/// Failures within `incident` of the last one counted are one failure: calls share a pipelined connection, so one
/// stall (a busy core, a fork for a snapshot) fails every call in flight at once — 64 requests are one incident, not
/// 64 reasons to stop asking Redis for seconds. A Redis that is really away fails call after call, and opens the
/// circuit after `threshold` incidents, `threshold` × `incident` at most.
final class FleetBackendHealth: Sendable {
    private struct State {
        var failures = 0
        var lastCounted: NIODeadline?
        var openUntil: NIODeadline?
        var lastLog: NIODeadline?
        var unlogged = 0
    }

    /// What the caller should log, if anything, after a failure or a recovery.
    enum LogLine: Equatable {
        case failing(count: Int)
        case recovered
    }

    private let threshold: Int
    private let coolDown: TimeAmount
    private let logInterval: TimeAmount
    private let incident: TimeAmount
    private let state = NIOLockedValueBox(State())

    init(threshold: Int, coolDown: TimeAmount, incident: TimeAmount = .zero, logInterval: TimeAmount = .seconds(10)) {
        self.threshold = max(1, threshold)
        self.coolDown = coolDown
        self.incident = incident
        self.logInterval = logInterval
    }

    /// False while the circuit is open.
    func mayAsk(now: NIODeadline) -> Bool {
        self.state.withLockedValue { state in
            guard let until = state.openUntil else { return true }
            return now >= until
        }
    }

    func succeeded() -> LogLine? {
        self.state.withLockedValue { state in
            let wasFailing = state.failures > 0 && state.lastLog != nil
            state.failures = 0
            state.lastCounted = nil
            state.openUntil = nil
            if wasFailing {
                state.lastLog = nil
                state.unlogged = 0
                return .recovered
            }
            return nil
        }
    }

    func failed(now: NIODeadline) -> LogLine? {
        self.state.withLockedValue { state in
            if state.lastCounted.map({ now - $0 >= self.incident }) ?? true {
                state.failures += 1
                state.lastCounted = now
            }
            state.unlogged += 1
            if state.failures >= self.threshold {
                state.openUntil = now + self.coolDown
            }
            if let last = state.lastLog, now - last < self.logInterval {
                return nil
            }
            state.lastLog = now
            defer { state.unlogged = 0 }
            return .failing(count: state.unlogged)
        }
    }
}
