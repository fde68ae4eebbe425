/// Why the master SIGKILLs a worker.
enum WorkerKillReason: String, Equatable, Sendable {
    /// It did not report `ready` within the ready timeout.
    case readyTimeout = "ready timeout"
    /// Its heartbeats stopped (stopped process, endless loop).
    case heartbeatTimeout = "missed heartbeats"
    /// It did not finish draining within the drain timeout.
    case drainTimeout = "drain timeout"
    /// Its generation was abandoned because another worker of it failed to come up.
    case reloadAbandoned = "reload abandoned"
    /// A forced shutdown (second signal or shutdown timeout).
    case forcedShutdown = "forced shutdown"
}

/// The life of one worker process as the master sees it: starting → ready → draining → exited (or killed).
///
/// Each state carries the deadline that applies in it: `ready` before the ready timeout, a heartbeat within the
/// heartbeat timeout, exit before the drain deadline. `expiredDeadline(now:)` says which one passed; the owner kills.
struct WorkerStateMachine {
    enum State: Equatable {
        case starting(readyDeadline: ContinuousClock.Instant)
        case ready(lastHeartbeat: ContinuousClock.Instant)
        case draining(exitDeadline: ContinuousClock.Instant, acknowledged: Bool)
        case killed(WorkerKillReason)
    }

    let spawnedAt: ContinuousClock.Instant
    let heartbeatTimeout: Duration
    private(set) var state: State

    init(spawnedAt: ContinuousClock.Instant, readyTimeout: Duration, heartbeatTimeout: Duration) {
        self.spawnedAt = spawnedAt
        self.heartbeatTimeout = heartbeatTimeout
        self.state = .starting(readyDeadline: spawnedAt + readyTimeout)
    }

    var isReady: Bool {
        if case .ready = self.state { return true }
        return false
    }

    var isDrainingOrKilled: Bool {
        switch self.state {
        case .draining, .killed: return true
        case .starting, .ready: return false
        }
    }

    var isDraining: Bool {
        if case .draining = self.state { return true }
        return false
    }

    var isKilled: Bool {
        if case .killed = self.state { return true }
        return false
    }

    /// `ready` arrived. - Returns: `true` if this made the worker ready (the first `ready` in `starting`).
    mutating func readyReceived(now: ContinuousClock.Instant) -> Bool {
        guard case .starting = self.state else {
            return false
        }
        self.state = .ready(lastHeartbeat: now)
        return true
    }

    /// `heartbeat` arrived: the worker's event loop is alive.
    mutating func heartbeatReceived(now: ContinuousClock.Instant) {
        if case .ready = self.state {
            self.state = .ready(lastHeartbeat: now)
        }
    }

    /// The master sent `drain`. - Returns: `false` if the worker was already draining or killed (send nothing).
    mutating func drainRequested(exitDeadline: ContinuousClock.Instant) -> Bool {
        switch self.state {
        case .starting, .ready:
            self.state = .draining(exitDeadline: exitDeadline, acknowledged: false)
            return true
        case .draining, .killed:
            return false
        }
    }

    /// `draining` arrived. - Returns: `true` the first time: the worker stopped accepting.
    mutating func drainingReceived() -> Bool {
        guard case .draining(let deadline, false) = self.state else {
            return false
        }
        self.state = .draining(exitDeadline: deadline, acknowledged: true)
        return true
    }

    /// The master decided to SIGKILL it. - Returns: `false` if a kill was already sent.
    mutating func killRequested(_ reason: WorkerKillReason) -> Bool {
        guard !self.isKilled else {
            return false
        }
        self.state = .killed(reason)
        return true
    }

    /// The next moment something must be checked, if any.
    var deadline: ContinuousClock.Instant? {
        switch self.state {
        case .starting(let readyDeadline): return readyDeadline
        case .ready(let lastHeartbeat): return lastHeartbeat + self.heartbeatTimeout
        case .draining(let exitDeadline, _): return exitDeadline
        case .killed: return nil
        }
    }

    /// - Returns: the reason to kill the worker when its current deadline has passed.
    func expiredDeadline(now: ContinuousClock.Instant) -> WorkerKillReason? {
        guard let deadline = self.deadline, deadline <= now else {
            return nil
        }
        switch self.state {
        case .starting: return .readyTimeout
        case .ready: return .heartbeatTimeout
        case .draining: return .drainTimeout
        case .killed: return nil
        }
    }

    /// A ready worker is healthy while its last heartbeat is recent; others are judged by their own deadlines.
    func isHealthy(now: ContinuousClock.Instant) -> Bool {
        self.expiredDeadline(now: now) == nil
    }
}
