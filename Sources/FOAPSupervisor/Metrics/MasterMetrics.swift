import FOAPMetrics

/// The master's own series: reloads, generations, workers, from the state machine's counters and state.
enum MasterMetrics {
    static func render(
        _ counters: SupervisorStateMachine.Counters, generation: Int, workersReady: Int, workerSlots: Int
    ) -> String {
        var text = MetricsText()
        text.family(
            "foap_reloads_total", "counter",
            "Configuration reloads, by result (failed: invalid config, refused, or a generation that did not start)."
        )
        text.sample("foap_reloads_total", [("result", "ok")], Double(counters.reloadsSucceeded))
        text.sample("foap_reloads_total", [("result", "failed")], Double(counters.reloadsFailed))
        text.family("foap_config_generation", "gauge", "The generation of workers serving now.")
        text.sample("foap_config_generation", [], Double(generation))
        text.family("foap_workers_ready", "gauge", "Workers of the serving generation that are ready.")
        text.sample("foap_workers_ready", [], Double(workersReady))
        text.family("foap_worker_slots", "gauge", "Worker slots (FOAP_WORKERS).")
        text.sample("foap_worker_slots", [], Double(workerSlots))
        text.family("foap_worker_restarts_total", "counter", "Workers replaced after a crash or a missed heartbeat.")
        text.sample("foap_worker_restarts_total", [], Double(counters.workerRestarts))
        return text.output
    }
}

extension Supervisor {
    /// Every worker's series summed, then the master's own.
    func exposition() -> String {
        self.metrics.render()
            + MasterMetrics.render(
                self.machine.counters,
                generation: self.machine.activeGeneration,
                workersReady: self.machine.readyWorkerCount,
                workerSlots: self.machine.workerCount
            )
            + (self.configuration.sharedLimits?.metrics() ?? "")
    }
}
