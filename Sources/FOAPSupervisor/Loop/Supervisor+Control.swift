/// `foap ctl` commands, as the master's loop handles them.
extension Supervisor {
    func handleControlClient(_ id: ControlClientID) {
        guard let server = self.controlServer, let input = server.read(id) else {
            return
        }
        switch input {
        case .invalid(let id, let problem):
            server.answer(id, ControlReply(ok: false, lines: [problem]))
        case .command(let id, .status):
            server.answer(id, ControlReply(ok: true, lines: self.statusLines(now: .now)))
        case .command(let id, .reload(let wait, let force)):
            self.logger.info(
                "reload requested", metadata: ["via": "control socket", "wait": "\(wait)", "force": "\(force)"]
            )
            self.execute(self.machine.reloadRequested(forced: true, allowingNoModels: force, waiter: wait ? id : nil))
            if !wait {
                server.answer(id, ControlReply(ok: true, lines: ["reload requested"]))
            }
        case .command(let id, .limits):
            let lines = self.configuration.sharedLimits?.report() ?? []
            server.answer(id, ControlReply(ok: true, lines: lines.isEmpty ? ["no key has limits"] : lines))
        case .command(let id, .drain):
            self.logger.info("shutdown requested", metadata: ["via": "control socket"])
            server.answer(id, ControlReply(ok: true, lines: ["draining \(self.machine.workers.count) workers, then exiting"]))
            self.execute(self.machine.shutdownRequested(now: .now))
        }
    }

    func answerReload(_ id: ControlClientID, _ outcome: ReloadOutcome) {
        self.controlServer?.answer(id, ControlReply.answer(outcome))
    }

    /// `key: value` lines; the same facts as the systemd status line, plus what a fleet check compares.
    func statusLines(now: ContinuousClock.Instant) -> [String] {
        let machine = self.machine
        let active = machine.workers.values.filter { $0.generation == machine.activeGeneration }
        let pids = active.compactMap(\.pid).sorted().map(String.init).joined(separator: " ")
        var reload = "idle"
        switch machine.reload {
        case .idle, .loadingConfig: break  // a load ends within the turn of the loop that started it
        case .startingNext(let generation, _, _, _, _): reload = "starting generation \(generation)"
        case .drainingOld(let generation, _, _, _): reload = "draining the generation before \(generation)"
        }
        return [
            "generation: \(machine.activeGeneration)",
            "config_digest: \(machine.activeConfig.digest)",
            "config: \(machine.activeConfig.summary)",
            "workers: \(machine.readyWorkerCount)/\(machine.workerCount) ready" + (pids.isEmpty ? "" : " (pids \(pids))"),
            "uptime_seconds: \((now - self.startedAt).components.seconds)",
            "reload: \(reload)",
            "last_reload: \(machine.lastReloadResult)",
        ]
    }
}
