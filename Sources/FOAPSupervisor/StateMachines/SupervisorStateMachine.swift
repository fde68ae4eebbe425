import FOAPWorkerChannel

/// The master's whole behaviour as a value: events in (a message, an exit, a signal, a deadline), actions out.
///
/// It owns the worker table, the generations and the reload in flight, and knows nothing about file descriptors or
/// processes: the poll loop (`Supervisor`) executes the returned actions. Time is passed in with every event, so
/// tests drive it by hand with no processes and no sleeps.
///
/// Invariants:
/// - Slot workers of `activeGeneration` are replaced when they die (with backoff); no other generation's are.
/// - At most one reload is in flight; requests arriving meanwhile are coalesced into one more run afterwards.
/// - A new generation replaces the old one only once every one of its workers is ready; the old generation is told
///   to drain only then, and the reload is reported done once every old worker stopped accepting or exited.
struct SupervisorStateMachine {
    struct Timeouts: Equatable {
        var ready: Duration
        var heartbeat: Duration
        var drain: Duration
        /// Extra time past `drain` before a draining worker is SIGKILLed: it gets to log and exit by itself first.
        var drainGrace: Duration = .seconds(5)
    }

    /// A validated config as a generation runs it.
    struct LoadedConfig: Equatable {
        var digest: String
        var summary: String
        /// How many models it serves.
        var models: Int
    }

    struct WorkerRecord {
        let id: WorkerID
        let slot: Int
        let generation: Int
        var pid: Int32?
        var machine: WorkerStateMachine
        /// Told to accept on its slot's listener and not yet reported to have stopped (`draining` or exit).
        var accepting = false
    }

    struct Slot {
        var backoff = RespawnBackoff()
        var respawnAt: ContinuousClock.Instant?
    }

    enum Phase: Equatable {
        case notStarted
        case running
        case stopping(deadline: ContinuousClock.Instant, forced: Bool)
        case exited
    }

    enum Reload: Equatable {
        case idle
        case startingNext(generation: Int, config: LoadedConfig, startedAt: ContinuousClock.Instant, forced: Bool)
        case drainingOld(generation: Int, startedAt: ContinuousClock.Instant, waiting: Set<WorkerID>)
    }

    /// Reload requests that arrived while another reload ran, coalesced into one.
    struct QueuedReload: Equatable {
        /// Any of them was a SIGHUP or `foap ctl reload`: start a generation even if the config is unchanged.
        var forced: Bool
        /// Any of them was `foap ctl reload --force`: apply the config even if it has no models.
        var allowingNoModels = false
        /// `foap ctl reload --wait` clients to answer once that reload ends.
        var waiters: [ControlClientID]
    }

    let workerCount: Int
    let timeouts: Timeouts
    var phase: Phase = .notStarted
    var reload: Reload = .idle
    /// Between a `loadConfig` action and its `configLoaded` answer.
    var isLoadingConfig = false
    var queuedReload: QueuedReload?
    /// The control clients waiting for the reload in flight.
    var reloadWaiters: [ControlClientID] = []
    /// RELOADING=1 was sent and no READY=1 has ended it yet.
    var reloadingAnnounced = false
    var workers: [WorkerID: WorkerRecord] = [:]
    var slots: [Slot]
    var activeGeneration = 0
    var activeConfig = LoadedConfig(digest: "", summary: "", models: 0)
    var lastGeneration = 0
    var lastReloadResult = LastReload.none
    var announcedReady = false
    private var nextWorkerID = 1

    init(workerCount: Int, timeouts: Timeouts) {
        precondition(workerCount > 0, "a supervisor needs at least one worker slot")
        self.workerCount = workerCount
        self.timeouts = timeouts
        self.slots = Array(repeating: Slot(), count: workerCount)
    }

    // MARK: - Start

    /// The first config load finished. Invalid: nothing can be served, exit 1. Valid: spawn generation 1.
    mutating func started(outcome: ConfigLoadOutcome, now: ContinuousClock.Instant) -> [SupervisorAction] {
        precondition(self.phase == .notStarted, "started twice")
        switch outcome {
        case .failed(let errors):
            self.phase = .exited
            return [.log(.configInvalid(errors: errors)), .exit(code: 1)]
        case .loaded(_, let digest, let summary, let models, let warnings):
            // No models at the first start is only the loader's warning: there is nothing serving to protect.
            self.phase = .running
            self.lastGeneration = 1
            self.activeGeneration = 1
            self.activeConfig = LoadedConfig(digest: digest, summary: summary, models: models)
            var actions: [SupervisorAction] = warnings.isEmpty ? [] : [.log(.configWarnings(warnings))]
            actions.append(.log(.started(generation: 1, summary: summary)))
            for slot in 0..<self.workerCount {
                actions.append(self.spawn(slot: slot, generation: 1, now: now))
            }
            return actions
        }
    }

    // MARK: - Worker events

    /// The driver started the process for a `spawnWorker` action.
    mutating func workerSpawned(_ id: WorkerID, pid: Int32) -> [SupervisorAction] {
        guard var record = self.workers[id] else {
            return []
        }
        record.pid = pid
        self.workers[id] = record
        return [.log(.workerSpawned(id, slot: record.slot, generation: record.generation, pid: pid))]
    }

    /// posix_spawn (or the socketpair/memfd before it) failed: handled like a worker that died at once.
    mutating func workerSpawnFailed(_ id: WorkerID, reason: String, now: ContinuousClock.Instant)
        -> [SupervisorAction]
    {
        guard let record = self.workers.removeValue(forKey: id) else {
            return []
        }
        let log = SupervisorAction.log(
            .workerSpawnFailed(id, slot: record.slot, generation: record.generation, reason: reason)
        )
        return [log] + self.workerGone(record, now: now)
    }

    /// A control message arrived from a worker.
    mutating func messageReceived(_ message: WorkerMessage, from id: WorkerID, now: ContinuousClock.Instant)
        -> [SupervisorAction]
    {
        guard var record = self.workers[id] else {
            return []
        }
        switch message {
        case .heartbeat:
            record.machine.heartbeatReceived(now: now)
            self.workers[id] = record
            return []
        case .ready:
            let becameReady = record.machine.readyReceived(now: now)
            self.workers[id] = record
            guard becameReady else {
                return []
            }
            var actions: [SupervisorAction] = [
                .log(.workerReady(id, slot: record.slot, generation: record.generation))
            ]
            actions += self.readinessChanged(now: now)
            return actions + self.admitToListener(slot: record.slot)
        case .draining:
            let first = record.machine.drainingReceived()
            record.accepting = false
            self.workers[id] = record
            guard first else {
                return []
            }
            return [.log(.workerDraining(id, slot: record.slot, generation: record.generation))]
                + self.admitToListener(slot: record.slot) + self.oldWorkerStoppedAccepting(id, now: now)
        }
    }

    /// waitpid reported the end of a child. Unknown pids (not ours, or already handled) are ignored.
    mutating func workerExited(pid: Int32, status: WorkerExitStatus, now: ContinuousClock.Instant)
        -> [SupervisorAction]
    {
        guard let id = self.workers.values.first(where: { $0.pid == pid })?.id,
            let record = self.workers.removeValue(forKey: id)
        else {
            return []
        }
        let expected = record.machine.isDrainingOrKilled || record.generation != self.activeGeneration
        let log = SupervisorAction.log(
            .workerExited(
                id, slot: record.slot, generation: record.generation, pid: pid, status: status, expected: expected
            )
        )
        return [log] + self.workerGone(record, now: now)
    }

    // MARK: - Time

    /// The earliest moment `tick` has something to do.
    var nextDeadline: ContinuousClock.Instant? {
        var deadlines = self.workers.values.compactMap { $0.pid == nil ? nil : $0.machine.deadline }
        deadlines += self.slots.compactMap(\.respawnAt)
        if case .stopping(let deadline, false) = self.phase {
            deadlines.append(deadline)
        }
        return deadlines.min()
    }

    /// Deadlines that passed: kill silent or slow workers, respawn slots whose backoff ended, force a slow shutdown.
    mutating func tick(now: ContinuousClock.Instant) -> [SupervisorAction] {
        var actions: [SupervisorAction] = []
        for id in self.workers.keys.sorted() {
            guard let record = self.workers[id], record.pid != nil,
                let reason = record.machine.expiredDeadline(now: now)
            else {
                continue
            }
            if case .startingNext(let generation, _, _, _) = self.reload, generation == record.generation {
                let why = "worker \(id) of slot \(record.slot): \(reason.rawValue)"
                actions += self.abandonReload(reason: why, now: now)
            } else {
                actions += self.kill(id, reason: reason)
            }
        }
        if self.phase == .running {
            for slot in self.slots.indices {
                guard let respawnAt = self.slots[slot].respawnAt, respawnAt <= now else {
                    continue
                }
                self.slots[slot].respawnAt = nil
                actions.append(self.spawn(slot: slot, generation: self.activeGeneration, now: now))
            }
        }
        if case .stopping(let deadline, false) = self.phase, deadline <= now {
            actions += self.forceShutdown(reason: "drain timeout")
        }
        return actions
    }

    /// Every live worker's deadline is still ahead: what the systemd watchdog ping vouches for.
    func isHealthy(now: ContinuousClock.Instant) -> Bool {
        self.workers.values.allSatisfy { $0.pid == nil || $0.machine.isHealthy(now: now) }
    }

    /// Workers of the serving generation that are ready (systemd STATUS, `foap ctl status`, `/metrics`).
    var readyWorkerCount: Int {
        self.workers.values.filter { $0.generation == self.activeGeneration && $0.machine.isReady }.count
    }

    /// The one-line systemd STATUS: generation, ready workers, config summary, last reload result.
    var statusLine: String {
        var line = "generation \(self.activeGeneration), \(self.readyWorkerCount)/\(self.workerCount) workers ready"
        if !self.activeConfig.summary.isEmpty {
            line += ", \(self.activeConfig.summary)"
        }
        return line + ", last reload: \(self.lastReloadResult)"
    }

    // MARK: - Helpers

    mutating func spawn(slot: Int, generation: Int, now: ContinuousClock.Instant) -> SupervisorAction {
        let id = WorkerID(rawValue: self.nextWorkerID)
        self.nextWorkerID += 1
        let machine = WorkerStateMachine(
            spawnedAt: now,
            readyTimeout: self.timeouts.ready,
            heartbeatTimeout: self.timeouts.heartbeat
        )
        self.workers[id] = WorkerRecord(id: id, slot: slot, generation: generation, pid: nil, machine: machine)
        return .spawnWorker(id, slot: slot, generation: generation)
    }

    mutating func kill(_ id: WorkerID, reason: WorkerKillReason) -> [SupervisorAction] {
        guard var record = self.workers[id], let pid = record.pid, record.machine.killRequested(reason) else {
            return []
        }
        self.workers[id] = record
        return [
            .log(.workerKilled(id, slot: record.slot, generation: record.generation, pid: pid, reason: reason)),
            .killWorker(id, pid: pid),
        ]
    }

    /// Sends `drain` to a worker unless it is already draining or killed.
    mutating func drain(_ id: WorkerID, now: ContinuousClock.Instant) -> [SupervisorAction] {
        guard var record = self.workers[id] else {
            return []
        }
        let deadline = now + self.timeouts.drain + self.timeouts.drainGrace
        guard record.machine.drainRequested(exitDeadline: deadline) else {
            return []
        }
        self.workers[id] = record
        return [.send(.drain, to: id)]
    }

    /// A worker process is gone (exited or never started): replace it, fail the reload, or finish a shutdown.
    private mutating func workerGone(_ record: WorkerRecord, now: ContinuousClock.Instant) -> [SupervisorAction] {
        if case .stopping(_, let forced) = self.phase {
            return self.workers.isEmpty ? self.exit(code: forced ? 1 : 0) : []
        }
        guard self.phase == .running else {
            return []
        }
        if case .startingNext(let generation, _, _, _) = self.reload, generation == record.generation {
            if record.machine.isKilled {
                return []
            }
            let why = "worker \(record.id) of slot \(record.slot) exited before ready"
            return self.abandonReload(reason: why, now: now)
        }
        var actions = self.admitToListener(slot: record.slot) + self.oldWorkerStoppedAccepting(record.id, now: now)
        if record.generation == self.activeGeneration && !record.machine.isDraining {
            let delay = self.slots[record.slot].backoff.delayAfterCrash(uptime: now - record.machine.spawnedAt)
            if delay == .zero {
                actions.append(self.spawn(slot: record.slot, generation: self.activeGeneration, now: now))
            } else {
                self.slots[record.slot].respawnAt = now + delay
                actions.append(.log(.respawnScheduled(slot: record.slot, generation: record.generation, delay: delay)))
            }
            if self.announcedReady {
                actions.append(.notifyStatus(self.statusLine))
            }
        }
        return actions
    }

    /// Tells the ready worker of the active generation in `slot` to start accepting, once no other worker accepts on
    /// that slot's listener any more.
    ///
    /// Old and new worker of a slot share one listening socket. Were both to accept at once, every connection would
    /// wake both processes and one would find nothing to accept: harmless in itself, but NIO asserts on it in debug
    /// builds and the worker dies with its connections. Connections arriving in between wait in the listener's
    /// backlog (milliseconds), so none is lost.
    mutating func admitToListener(slot: Int) -> [SupervisorAction] {
        guard self.phase == .running else {
            return []
        }
        let inSlot = self.workers.values.filter { $0.slot == slot }
        guard !inSlot.contains(where: \.accepting),
            let next = inSlot.first(where: { $0.generation == self.activeGeneration && $0.machine.isReady })
        else {
            return []
        }
        self.workers[next.id]?.accepting = true
        return [.send(.accept, to: next.id)]
    }

    /// READY=1 the first time every slot of generation 1 is ready; commit a reload when its generation is.
    private mutating func readinessChanged(now: ContinuousClock.Instant) -> [SupervisorAction] {
        if case .startingNext(let generation, _, _, _) = self.reload {
            // The status says "reloading" until the reload is decided; only its completion changes it.
            return self.allReady(generation: generation) ? self.commitReload(now: now) : []
        }
        guard self.allReady(generation: self.activeGeneration) else {
            return self.announcedReady ? [.notifyStatus(self.statusLine)] : []
        }
        guard !self.announcedReady else {
            return [.notifyStatus(self.statusLine)]
        }
        self.announcedReady = true
        return [.log(.allWorkersReady(generation: self.activeGeneration)), .notifyReady(status: self.statusLine)]
    }

    func allReady(generation: Int) -> Bool {
        let ready = self.workers.values.filter { $0.generation == generation && $0.machine.isReady }
        return Set(ready.map(\.slot)).count == self.workerCount
    }

    mutating func exit(code: Int32) -> [SupervisorAction] {
        self.phase = .exited
        return [.exit(code: code)]
    }
}
