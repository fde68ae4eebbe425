import Logging

extension Supervisor {
    /// Words one lifecycle event as one log record: message for people, snake_case metadata for tools.
    func log(_ event: SupervisorLogEvent) {
        switch event {
        case .configInvalid(let errors):
            for error in errors {
                self.logger.error("invalid configuration", metadata: ["config_error": "\(error)"])
            }
        case .configWarnings(let warnings):
            for warning in warnings {
                self.logger.warning("configuration warning", metadata: ["config_warning": "\(warning)"])
            }
        case .configUnchanged:
            self.logger.debug("configuration unchanged")
        case .reloadRefusedNoModels(let generation, let activeModels):
            self.logger.error(
                "reload refused: the new configuration has no models, the previous generation keeps serving",
                metadata: [
                    "generation": "\(generation)", "active_models": "\(activeModels)",
                    "hint": "foap ctl reload --force applies it",
                ]
            )
        case .workerSpawned(let id, let slot, let generation, let pid):
            let metadata = self.workerMetadata(id, slot, generation, ["worker_pid": "\(pid)"])
            self.logger.info("worker spawned", metadata: metadata)
        case .workerSpawnFailed(let id, let slot, let generation, let reason):
            let metadata = self.workerMetadata(id, slot, generation, ["error": "\(reason)"])
            self.logger.error("worker spawn failed", metadata: metadata)
        case .workerReady(let id, let slot, let generation):
            self.logger.info("worker ready", metadata: self.workerMetadata(id, slot, generation))
        case .workerDraining(let id, let slot, let generation):
            self.logger.info("worker draining", metadata: self.workerMetadata(id, slot, generation))
        case .workerExited(let id, let slot, let generation, let pid, let status, let expected):
            let metadata = self.workerMetadata(
                id, slot, generation, ["worker_pid": "\(pid)", "exit_status": "\(status)"]
            )
            if expected && status == .exited(code: 0) {
                self.logger.info("worker exited", metadata: metadata)
            } else if expected {
                // A draining or stopping worker that crashed or was killed may have cut streams: say so.
                self.logger.warning("worker exited abnormally while stopping", metadata: metadata)
            } else {
                self.logger.error("worker exited unexpectedly", metadata: metadata)
            }
        case .workerKilled(let id, let slot, let generation, let pid, let reason):
            let extra: Logger.Metadata = ["worker_pid": "\(pid)", "reason": "\(reason.rawValue)"]
            self.logger.warning("killing worker", metadata: self.workerMetadata(id, slot, generation, extra))
        case .respawnScheduled(let slot, let generation, let delay):
            self.logger.warning(
                "worker keeps crashing, respawn delayed",
                metadata: ["worker": "\(slot)", "generation": "\(generation)", "delay_ms": "\(delay.milliseconds)"]
            )
        case .started(let generation, let summary):
            self.logger.info("starting workers", metadata: ["generation": "\(generation)", "config": "\(summary)"])
        case .allWorkersReady(let generation):
            self.logger.info("all workers ready", metadata: ["generation": "\(generation)"])
        case .reloadStarted(let generation, let forced):
            self.logger.info("reload started", metadata: ["generation": "\(generation)", "forced": "\(forced)"])
        case .reloadDone(let generation, let duration):
            self.logger.info(
                "reload done",
                metadata: ["generation": "\(generation)", "duration_ms": "\(duration.milliseconds)"]
            )
        case .reloadAbandoned(let generation, let reason, let duration):
            self.logger.error(
                "reload failed, previous generation keeps serving",
                metadata: [
                    "generation": "\(generation)", "reason": "\(reason)", "duration_ms": "\(duration.milliseconds)",
                ]
            )
        case .shutdownStarted:
            self.logger.info("draining all workers before exit")
        case .shutdownForced(let reason):
            self.logger.warning("killing remaining workers", metadata: ["reason": "\(reason)"])
        }
    }

    private func workerMetadata(
        _ id: WorkerID,
        _ slot: Int,
        _ generation: Int,
        _ extra: Logger.Metadata = [:]
    ) -> Logger.Metadata {
        var metadata: Logger.Metadata = [
            "worker": "\(slot)", "generation": "\(generation)", "worker_id": "\(id.rawValue)",
        ]
        metadata.merge(extra) { _, new in new }
        return metadata
    }
}

extension Duration {
    /// Whole milliseconds, for `duration_ms` log fields.
    var milliseconds: Int64 {
        let (seconds, attoseconds) = self.components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
