extension SupervisorStateMachine {
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
        guard self.reload == .idle, !self.isLoadingConfig else {
            var queued = self.queuedReload ?? QueuedReload(forced: false, waiters: [])
            queued.forced = queued.forced || forced
            queued.allowingNoModels = queued.allowingNoModels || allowingNoModels
            queued.waiters += waiter.map { [$0] } ?? []
            self.queuedReload = queued
            return []
        }
        self.isLoadingConfig = true
        self.reloadWaiters = waiter.map { [$0] } ?? []
        let load = SupervisorAction.loadConfig(forced: forced, allowingNoModels: allowingNoModels)
        guard forced, !self.reloadingAnnounced else {
            return [load]
        }
        // SIGHUP is what `systemctl reload` sends (ExecReload=kill -HUP): say RELOADING=1 before the config is even
        // read, so systemd's reload job waits for the READY=1 that ends it instead of racing the kill's exit.
        self.reloadingAnnounced = true
        return [.notifyReloading(status: "reloading: loading configuration"), load]
    }

    /// The loader answered a `loadConfig`. Invalid: keep serving, say so. Unchanged and not forced: nothing to do.
    /// No models while the active config has some, and not `allowingNoModels`: refused like an invalid config (an
    /// emptied directory is far more often an accident — a failed deploy, a missing volume — than a wish to serve
    /// nothing). Otherwise start generation g+1 with the new snapshot.
    mutating func configLoaded(
        _ outcome: ConfigLoadOutcome, forced: Bool, allowingNoModels: Bool = false, now: ContinuousClock.Instant
    ) -> [SupervisorAction] {
        guard self.phase == .running, self.reload == .idle else {
            return []
        }
        self.isLoadingConfig = false
        switch outcome {
        case .failed(let errors):
            self.lastReloadResult = .configInvalid(firstError: errors.first ?? "unknown error")
            return [.log(.configInvalid(errors: errors))]
                + self.endReload(.failed(errors), quietly: .notifyStatus(self.statusLine))
        case .loaded(_, let digest, let summary, let models, let warnings):
            var actions: [SupervisorAction] = warnings.isEmpty ? [] : [.log(.configWarnings(warnings))]
            if digest == self.activeConfig.digest && !forced {
                actions.append(.log(.configUnchanged))
                let cleared = self.clearFailure()
                return actions + self.endReload(.served(generation: self.activeGeneration), quietly: cleared)
            }
            if models == 0 && self.activeConfig.models > 0 && !allowingNoModels {
                let active = self.activeConfig.models
                self.lastReloadResult = .refusedNoModels
                actions.append(.log(.reloadRefusedNoModels(generation: self.activeGeneration, activeModels: active)))
                let refusal = "refused: the new config has no models; generation \(self.activeGeneration) keeps "
                    + "serving its \(active) (foap ctl reload --force applies it)"
                return actions + self.endReload(.failed([refusal]), quietly: .notifyStatus(self.statusLine))
            }
            self.lastGeneration += 1
            let generation = self.lastGeneration
            let config = LoadedConfig(digest: digest, summary: summary, models: models)
            self.reload = .startingNext(generation: generation, config: config, startedAt: now, forced: forced)
            actions.append(.log(.reloadStarted(generation: generation, forced: forced)))
            let status = "reloading: starting generation \(generation)"
            if self.reloadingAnnounced {
                actions.append(.notifyStatus(status))
            } else {
                self.reloadingAnnounced = true
                actions.append(.notifyReloading(status: status))
            }
            for slot in 0..<self.workerCount {
                actions.append(self.spawn(slot: slot, generation: generation, now: now))
            }
            return actions
        }
    }

    /// Every worker of the new generation is ready: make it the active one and tell the old one to drain.
    mutating func commitReload(now: ContinuousClock.Instant) -> [SupervisorAction] {
        guard case .startingNext(let generation, let config, let startedAt, _) = self.reload else {
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
        self.reload = .drainingOld(generation: generation, startedAt: startedAt, waiting: waiting)
        for slot in self.slots.indices {
            actions += self.admitToListener(slot: slot)
        }
        return actions + self.finishReloadIfDrained(now: now)
    }

    /// An old worker replied `draining` or exited: the reload is done once none is left accepting.
    mutating func oldWorkerStoppedAccepting(_ id: WorkerID, now: ContinuousClock.Instant) -> [SupervisorAction] {
        guard case .drainingOld(let generation, let startedAt, var waiting) = self.reload,
            waiting.remove(id) != nil
        else {
            return []
        }
        self.reload = .drainingOld(generation: generation, startedAt: startedAt, waiting: waiting)
        return self.finishReloadIfDrained(now: now)
    }

    private mutating func finishReloadIfDrained(now: ContinuousClock.Instant) -> [SupervisorAction] {
        guard case .drainingOld(let generation, let startedAt, let waiting) = self.reload, waiting.isEmpty else {
            return []
        }
        let duration = now - startedAt
        self.reload = .idle
        self.announcedReady = true
        self.lastReloadResult = .served(generation: generation)
        return [.log(.reloadDone(generation: generation, duration: duration))]
            + self.endReload(.served(generation: generation), quietly: .notifyStatus(self.statusLine))
    }

    /// The new generation failed to come up (a worker died or timed out before `ready`): kill all of it, keep the
    /// old generation serving, report, and run a queued reload if one arrived meanwhile.
    mutating func abandonReload(reason: String, now: ContinuousClock.Instant) -> [SupervisorAction] {
        guard case .startingNext(let generation, _, let startedAt, _) = self.reload else {
            return []
        }
        self.reload = .idle
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
            + self.endReload(.failed(["generation \(generation) failed: \(reason)"]), quietly: .notifyStatus(self.statusLine))
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
    private mutating func endReload(_ outcome: ReloadOutcome, quietly: SupervisorAction?) -> [SupervisorAction] {
        var actions = self.reloadWaiters.map { SupervisorAction.answerReload($0, outcome) }
        self.reloadWaiters = []
        if let queued = self.queuedReload {
            self.queuedReload = nil
            let next = self.reloadRequested(forced: queued.forced, allowingNoModels: queued.allowingNoModels)
            // The waiters join the reload that starts now (its config is read after their request).
            self.reloadWaiters += queued.waiters
            return actions + next
        }
        if self.reloadingAnnounced {
            self.reloadingAnnounced = false
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
            if case .startingNext(let generation, _, _, _) = self.reload {
                actions.append(.log(.reloadAbandoned(generation: generation, reason: "shutdown", duration: .zero)))
            }
            self.reload = .idle
            self.isLoadingConfig = false
            let waiters = self.reloadWaiters + (self.queuedReload?.waiters ?? [])
            actions += waiters.map { .answerReload($0, .failed(["the master is shutting down"])) }
            self.reloadWaiters = []
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
