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
    let workerCount: Int
    let timeouts: Timeouts
    private(set) var phase: Phase = .notStarted
    /// `.refuseNewConnections` was asked for (once per life).
    private var refusedNewConnections = false
    private(set) var reload: Reload = .idle
    private(set) var queuedReload: QueuedReload?
    private(set) var workers: [WorkerID: WorkerRecord] = [:]
    private(set) var slots: [Slot]
    private(set) var activeGeneration = 0
    private(set) var activeConfig = LoadedConfig(digest: "", summary: "", models: 0)
    private(set) var lastGeneration = 0
    private(set) var lastReloadResult = LastReload.none
    private(set) var announcedReady = false
    private(set) var counters = Counters()
    private var nextWorkerID = 1

    /// RELOADING=1 was sent and no READY=1 has ended it yet.
    var reloadingAnnounced: Bool {
        self.reload.run?.announced ?? false
    }

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
        case .loaded(let snapshot, let digest, let summary, let models, let warnings):
            // No models at the first start is only the loader's warning: there is nothing serving to protect.
            self.phase = .running
            self.lastGeneration = 1
            self.activeGeneration = 1
            self.activeConfig = LoadedConfig(digest: digest, summary: summary, models: models)
            var actions: [SupervisorAction] = warnings.isEmpty ? [] : [.log(.configWarnings(warnings))]
            actions.append(.log(.started(generation: 1, summary: summary)))
            actions.append(.keepSnapshot(generation: 1, snapshot))
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
        return [log] + self.workerGone(record, now: now) + self.refuseNewConnectionsOnceNobodyAccepts()
    }

    /// Stopping, and no worker takes connections from the listeners any more (each closed its copy, or is gone):
    /// the listeners may stop queueing connections nobody will accept. Not before: a worker's listener shut under
    /// its accept fails, and its server channel closes with the connections it holds.
    private mutating func refuseNewConnectionsOnceNobodyAccepts() -> [SupervisorAction] {
        guard case .stopping = self.phase, !self.refusedNewConnections,
            !self.workers.values.contains(where: { $0.accepting && $0.pid != nil })
        else {
            return []
        }
        self.refusedNewConnections = true
        return [.refuseNewConnections]
    }

    /// A lifecycle word arrived from a worker over its worker channel.
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
                + self.refuseNewConnectionsOnceNobodyAccepts()
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
        if !expected {
            self.counters.workerRestarts += 1
        }
        let log = SupervisorAction.log(
            .workerExited(
                id, slot: record.slot, generation: record.generation, pid: pid, status: status, expected: expected
            )
        )
        return [log] + self.workerGone(record, now: now) + self.refuseNewConnectionsOnceNobodyAccepts()
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
            if self.reload.startingGeneration == record.generation {
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
        if reason == .heartbeatTimeout {
            self.counters.workerRestarts += 1
        }
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
        if self.reload.startingGeneration == record.generation {
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
        if let generation = self.reload.startingGeneration {
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

    // MARK: - Reload

    /// A file change (after debounce), SIGHUP (`forced`) or `foap ctl reload` (forced, maybe with a `waiter`) asks
    /// for a reload. One in flight: the request is queued, because that one may have read the directory before the
    /// change this request is about; every queued request runs as one more reload afterwards.
    ///
    /// `allowingNoModels` (only `foap ctl reload --force`) is a separate notion from `forced`: `forced` starts a
    /// generation even for an unchanged config, `allowingNoModels` applies a config that has no models while the
    /// active one has some. A SIGHUP or a file change never allows that, however often it comes.
    mutating func reloadRequested(forced: Bool, allowingNoModels: Bool = false, waiter: ControlClientID? = nil)
        -> [SupervisorAction]
    {
        guard self.phase == .running else {
            return waiter.map { [.answerReload($0, .failed(["the master is shutting down"]))] } ?? []
        }
        guard self.reload == .idle else {
            var queued = self.queuedReload ?? QueuedReload(forced: false, waiters: [])
            queued.forced = queued.forced || forced
            queued.allowingNoModels = queued.allowingNoModels || allowingNoModels
            queued.waiters += waiter.map { [$0] } ?? []
            self.queuedReload = queued
            return []
        }
        return self.loadConfig(
            forced: forced, allowingNoModels: allowingNoModels, run: ReloadRun(waiters: waiter.map { [$0] } ?? [])
        )
    }

    /// Starts the `run` of a reload: asks the driver to load the config.
    private mutating func loadConfig(forced: Bool, allowingNoModels: Bool, run: ReloadRun) -> [SupervisorAction] {
        var run = run
        let load = SupervisorAction.loadConfig(forced: forced, allowingNoModels: allowingNoModels)
        guard forced, !run.announced else {
            self.reload = .loadingConfig(run)
            return [load]
        }
        // SIGHUP is what `systemctl reload` sends (ExecReload=kill -HUP): say RELOADING=1 before the config is even
        // read, so systemd's reload job waits for the READY=1 that ends it instead of racing the kill's exit.
        run.announced = true
        self.reload = .loadingConfig(run)
        return [.notifyReloading(status: "reloading: loading configuration"), load]
    }

    /// The loader answered a `loadConfig`. Invalid: keep serving, say so. Unchanged and not forced: nothing to do.
    /// No models while the active config has some, and not `allowingNoModels`: refused like an invalid config (an
    /// emptied directory is far more often an accident — a failed deploy, a missing volume — than a wish to serve
    /// nothing). Otherwise start generation g+1 with the new snapshot, which the driver keeps (`keepSnapshot`) for
    /// the workers it spawns.
    ///
    /// A load while no reload is in flight (tests drive the machine so) counts as one nobody waits for.
    mutating func configLoaded(
        _ outcome: ConfigLoadOutcome, forced: Bool, allowingNoModels: Bool = false, now: ContinuousClock.Instant
    ) -> [SupervisorAction] {
        guard self.phase == .running else {
            return []
        }
        var run: ReloadRun
        switch self.reload {
        case .idle: run = ReloadRun()
        case .loadingConfig(let loading): run = loading
        case .startingNext, .drainingOld: return []
        }
        self.reload = .idle
        switch outcome {
        case .failed(let errors):
            self.lastReloadResult = .configInvalid(firstError: errors.first ?? "unknown error")
            self.counters.reloadsFailed += 1
            return [.log(.configInvalid(errors: errors))]
                + self.endReload(run, .failed(errors), quietly: .notifyStatus(self.statusLine))
        case .loaded(let snapshot, let digest, let summary, let models, let warnings):
            if digest == self.activeConfig.digest && !forced {
                // The serving config's warnings were logged when it loaded: an editor's swap file or a touched
                // README in the directory must not log them all again.
                let cleared = self.clearFailure()
                return [.log(.configUnchanged)]
                    + self.endReload(run, .served(generation: self.activeGeneration), quietly: cleared)
            }
            var actions: [SupervisorAction] = warnings.isEmpty ? [] : [.log(.configWarnings(warnings))]
            if models == 0 && self.activeConfig.models > 0 && !allowingNoModels {
                let active = self.activeConfig.models
                self.lastReloadResult = .refusedNoModels
                self.counters.reloadsFailed += 1
                actions.append(.log(.reloadRefusedNoModels(generation: self.activeGeneration, activeModels: active)))
                let refusal = "refused: the new config has no models; generation \(self.activeGeneration) keeps "
                    + "serving its \(active) (foap ctl reload --force applies it)"
                return actions + self.endReload(run, .failed([refusal]), quietly: .notifyStatus(self.statusLine))
            }
            self.lastGeneration += 1
            let generation = self.lastGeneration
            let config = LoadedConfig(digest: digest, summary: summary, models: models)
            actions.append(.log(.reloadStarted(generation: generation, forced: forced)))
            let status = "reloading: starting generation \(generation)"
            if run.announced {
                actions.append(.notifyStatus(status))
            } else {
                run.announced = true
                actions.append(.notifyReloading(status: status))
            }
            self.reload = .startingNext(
                generation: generation, config: config, startedAt: now, forced: forced, run: run
            )
            actions.append(.keepSnapshot(generation: generation, snapshot))
            for slot in 0..<self.workerCount {
                actions.append(self.spawn(slot: slot, generation: generation, now: now))
            }
            return actions
        }
    }

    /// Every worker of the new generation is ready: make it the active one and tell the old one to drain.
    mutating func commitReload(now: ContinuousClock.Instant) -> [SupervisorAction] {
        guard case .startingNext(let generation, let config, let startedAt, _, let run) = self.reload else {
            return []
        }
        let oldGeneration = self.activeGeneration
        self.activeGeneration = generation
        self.activeConfig = config
        for slot in self.slots.indices {
            self.slots[slot].respawnAt = nil
            self.slots[slot].backoff.reset()
        }
        var actions: [SupervisorAction] = [
            .log(.allWorkersReady(generation: generation)), .releaseSnapshot(generation: oldGeneration),
        ]
        var waiting = Set<WorkerID>()
        for id in self.workers.keys.sorted() where self.workers[id]?.generation != generation {
            let drain = self.drain(id, now: now)
            if !drain.isEmpty {
                waiting.insert(id)
            }
            actions += drain
        }
        self.reload = .drainingOld(generation: generation, startedAt: startedAt, waiting: waiting, run: run)
        for slot in self.slots.indices {
            actions += self.admitToListener(slot: slot)
        }
        return actions + self.finishReloadIfDrained(now: now)
    }

    /// An old worker replied `draining` or exited: the reload is done once none is left accepting.
    mutating func oldWorkerStoppedAccepting(_ id: WorkerID, now: ContinuousClock.Instant) -> [SupervisorAction] {
        guard case .drainingOld(let generation, let startedAt, var waiting, let run) = self.reload,
            waiting.remove(id) != nil
        else {
            return []
        }
        self.reload = .drainingOld(generation: generation, startedAt: startedAt, waiting: waiting, run: run)
        return self.finishReloadIfDrained(now: now)
    }

    private mutating func finishReloadIfDrained(now: ContinuousClock.Instant) -> [SupervisorAction] {
        guard case .drainingOld(let generation, let startedAt, let waiting, let run) = self.reload, waiting.isEmpty
        else {
            return []
        }
        let duration = now - startedAt
        self.reload = .idle
        self.announcedReady = true
        self.lastReloadResult = .served(generation: generation)
        self.counters.reloadsSucceeded += 1
        return [.log(.reloadDone(generation: generation, duration: duration))]
            + self.endReload(run, .served(generation: generation), quietly: .notifyStatus(self.statusLine))
    }

    /// The new generation failed to come up (a worker died or timed out before `ready`): kill all of it, keep the
    /// old generation serving, report, and run a queued reload if one arrived meanwhile.
    mutating func abandonReload(reason: String, now: ContinuousClock.Instant) -> [SupervisorAction] {
        guard case .startingNext(let generation, _, let startedAt, _, let run) = self.reload else {
            return []
        }
        self.reload = .idle
        self.counters.reloadsFailed += 1
        var actions: [SupervisorAction] = [
            .log(.reloadAbandoned(generation: generation, reason: reason, duration: now - startedAt))
        ]
        for id in self.workers.keys.sorted() where self.workers[id]?.generation == generation {
            if self.workers[id]?.pid == nil {
                // Not started yet (cannot happen with a synchronous driver); forget it.
                self.workers[id] = nil
            } else {
                actions += self.kill(id, reason: .reloadAbandoned)
            }
        }
        actions.append(.releaseSnapshot(generation: generation))
        self.lastReloadResult = .generationFailed(generation: generation, reason: reason)
        return actions
            + self.endReload(
                run, .failed(["generation \(generation) failed: \(reason)"]), quietly: .notifyStatus(self.statusLine)
            )
    }

    /// A valid load found the config the active generation serves (the bad file was removed, the edit reverted): a
    /// failure still shown in the status is no longer true. Nothing else would correct it, since an unchanged
    /// config starts no reload. - Returns: the status update to send when there was one to clear.
    private mutating func clearFailure() -> SupervisorAction? {
        guard self.lastReloadResult.isFailure else {
            return nil
        }
        self.lastReloadResult = .unchanged(generation: self.activeGeneration)
        return .notifyStatus(self.statusLine)
    }

    /// One reload ended (`outcome`): its waiters get their answer. A queued request runs next, and systemd hears
    /// READY=1 only once none is left, so `systemctl reload` cannot return while an older generation serves.
    /// `quietly` is the status update for a reload nobody announced with RELOADING=1.
    /// - Precondition: `reload` is idle again (the caller ended the `run` it passes).
    private mutating func endReload(_ run: ReloadRun, _ outcome: ReloadOutcome, quietly: SupervisorAction?)
        -> [SupervisorAction]
    {
        var actions = run.waiters.map { SupervisorAction.answerReload($0, outcome) }
        if let queued = self.queuedReload {
            self.queuedReload = nil
            // The waiters join the reload that starts now (its config is read after their request); RELOADING=1, if
            // sent, stays in force until that one ends.
            let next = ReloadRun(waiters: queued.waiters, announced: run.announced)
            let load = self.loadConfig(forced: queued.forced, allowingNoModels: queued.allowingNoModels, run: next)
            return actions + load
        }
        if run.announced {
            actions.append(.notifyReady(status: self.statusLine))
        } else if let quietly {
            actions.append(quietly)
        }
        return actions
    }

    // MARK: - Shutdown

    /// SIGTERM/SIGINT. The first drains every worker (exit code 0 once all exited by themselves); a second one, or
    /// the drain timeout, SIGKILLs what is left (exit code 1: the shutdown was not clean).
    mutating func shutdownRequested(now: ContinuousClock.Instant) -> [SupervisorAction] {
        switch self.phase {
        case .notStarted, .exited:
            return self.exit(code: 0)
        case .stopping(_, true):
            return []
        case .stopping(_, false):
            return self.forceShutdown(reason: "second signal")
        case .running:
            var actions: [SupervisorAction] = [.log(.shutdownStarted)]
            if let generation = self.reload.startingGeneration {
                actions.append(.log(.reloadAbandoned(generation: generation, reason: "shutdown", duration: .zero)))
                self.counters.reloadsFailed += 1
            }
            let waiters = (self.reload.run?.waiters ?? []) + (self.queuedReload?.waiters ?? [])
            actions += waiters.map { .answerReload($0, .failed(["the master is shutting down"])) }
            self.reload = .idle
            self.queuedReload = nil
            for slot in self.slots.indices {
                self.slots[slot].respawnAt = nil
            }
            let deadline = now + self.timeouts.drain + self.timeouts.drainGrace
            self.phase = .stopping(deadline: deadline, forced: false)
            actions.append(.notifyStopping(status: "stopping: draining \(self.workers.count) workers"))
            for id in self.workers.keys.sorted() {
                if self.workers[id]?.pid == nil {
                    self.workers[id] = nil
                } else {
                    actions += self.drain(id, now: now)
                }
            }
            actions += self.refuseNewConnectionsOnceNobodyAccepts()
            if self.workers.isEmpty {
                actions += self.exit(code: 0)
            }
            return actions
        }
    }

    mutating func forceShutdown(reason: String) -> [SupervisorAction] {
        guard case .stopping(let deadline, _) = self.phase else {
            return []
        }
        self.phase = .stopping(deadline: deadline, forced: true)
        var actions: [SupervisorAction] = [.log(.shutdownForced(reason: reason))]
        for id in self.workers.keys.sorted() {
            actions += self.kill(id, reason: .forcedShutdown)
        }
        if self.workers.isEmpty {
            actions += self.exit(code: 1)
        }
        return actions
    }
}
