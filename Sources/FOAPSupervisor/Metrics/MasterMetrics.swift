/// The master's own series: reloads, generations, workers. Counted from the lifecycle events it logs.
struct MasterMetrics {
    var reloadsSucceeded = 0
    var reloadsFailed = 0
    var workerRestarts = 0

    mutating func count(_ event: SupervisorLogEvent) {
        switch event {
        case .reloadDone: self.reloadsSucceeded += 1
        case .reloadAbandoned: self.reloadsFailed += 1
        case .configInvalid: self.reloadsFailed += 1
        case .workerExited(_, _, _, _, _, let expected) where !expected: self.workerRestarts += 1
        case .workerKilled(_, _, _, _, let reason) where reason == .heartbeatTimeout: self.workerRestarts += 1
        default: break
        }
    }

    func render(generation: Int, workersReady: Int, workerSlots: Int) -> String {
        """
        # HELP foap_reloads_total Configuration reloads, by result (failed: invalid config or a generation that did not start).
        # TYPE foap_reloads_total counter
        foap_reloads_total{result="ok"} \(self.reloadsSucceeded)
        foap_reloads_total{result="failed"} \(self.reloadsFailed)
        # HELP foap_config_generation The generation of workers serving now.
        # TYPE foap_config_generation gauge
        foap_config_generation \(generation)
        # HELP foap_workers_ready Workers of the serving generation that are ready, and the slots there are.
        # TYPE foap_workers_ready gauge
        foap_workers_ready \(workersReady)
        # HELP foap_worker_slots Worker slots (FOAP_WORKERS).
        # TYPE foap_worker_slots gauge
        foap_worker_slots \(workerSlots)
        # HELP foap_worker_restarts_total Workers replaced after a crash or a missed heartbeat.
        # TYPE foap_worker_restarts_total counter
        foap_worker_restarts_total \(self.workerRestarts)

        """
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
