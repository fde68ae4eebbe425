import FOAPMetrics

/// The master's own series: reloads, generations, workers. Counted from the lifecycle events it logs.
struct MasterMetrics {
    var reloadsSucceeded = 0
    var reloadsFailed = 0
    var workerRestarts = 0

    mutating func count(_ event: SupervisorLogEvent) {
        switch event {
        case .reloadDone: self.reloadsSucceeded += 1
        case .reloadAbandoned: self.reloadsFailed += 1
        case .configInvalid, .reloadRefusedNoModels: self.reloadsFailed += 1
        case .workerExited(_, _, _, _, _, let expected) where !expected: self.workerRestarts += 1
        case .workerKilled(_, _, _, _, let reason) where reason == .heartbeatTimeout: self.workerRestarts += 1
        default: break
        }
    }

    func render(generation: Int, workersReady: Int, workerSlots: Int) -> String {
        var text = MetricsText()
        text.family(
            "foap_reloads_total", "counter",
            "Configuration reloads, by result (failed: invalid config, refused, or a generation that did not start)."
        )
        text.sample("foap_reloads_total", [("result", "ok")], Double(self.reloadsSucceeded))
        text.sample("foap_reloads_total", [("result", "failed")], Double(self.reloadsFailed))
        text.family("foap_config_generation", "gauge", "The generation of workers serving now.")
        text.sample("foap_config_generation", [], Double(generation))
        text.family("foap_workers_ready", "gauge", "Workers of the serving generation that are ready.")
        text.sample("foap_workers_ready", [], Double(workersReady))
        text.family("foap_worker_slots", "gauge", "Worker slots (FOAP_WORKERS).")
        text.sample("foap_worker_slots", [], Double(workerSlots))
        text.family("foap_worker_restarts_total", "counter", "Workers replaced after a crash or a missed heartbeat.")
        text.sample("foap_worker_restarts_total", [], Double(self.workerRestarts))
        return text.output
    }
}

extension Supervisor {
    /// Every worker's series summed, then the master's own.
    func exposition() -> String {
        self.metrics.render()
            + self.masterMetrics.render(
                generation: self.machine.activeGeneration,
                workersReady: self.machine.readyWorkerCount,
                workerSlots: self.machine.workerCount
            )
    }
}
