/// The values `SupervisorStateMachine` keeps its state in.
extension SupervisorStateMachine {
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

    /// The reload in flight, from the request to the end of the old generation's accepting, and what it carries.
    enum Reload: Equatable {
        case idle
        /// A `loadConfig` action is out; `configLoaded` answers it.
        case loadingConfig(ReloadRun)
        /// The new generation's workers are starting; none of the old generation was told anything yet.
        case startingNext(
            generation: Int, config: LoadedConfig, startedAt: ContinuousClock.Instant, forced: Bool, run: ReloadRun
        )
        /// The new generation serves; the reload is done once every worker in `waiting` stopped accepting.
        case drainingOld(generation: Int, startedAt: ContinuousClock.Instant, waiting: Set<WorkerID>, run: ReloadRun)

        /// What the reload in flight carries; nil when idle.
        var run: ReloadRun? {
            switch self {
            case .idle: nil
            case .loadingConfig(let run): run
            case .startingNext(_, _, _, _, let run): run
            case .drainingOld(_, _, _, let run): run
            }
        }

        /// The generation being started, while it is not serving yet.
        var startingGeneration: Int? {
            if case .startingNext(let generation, _, _, _, _) = self { generation } else { nil }
        }
    }

    /// What a reload in flight carries from its request to its end, and on into the queued reload that continues it.
    struct ReloadRun: Equatable {
        /// `foap ctl reload --wait` clients to answer when it ends.
        var waiters: [ControlClientID] = []
        /// RELOADING=1 was sent (for it, or for the reload it continues) and no READY=1 has ended it yet.
        var announced = false
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

    /// The master's own counters for `/metrics`, counted where the state they count changes.
    struct Counters: Equatable {
        /// Reloads that ended with their generation serving.
        var reloadsSucceeded = 0
        /// Reloads that found an invalid config, were refused (no models), or whose generation did not come up.
        var reloadsFailed = 0
        /// Workers of the serving generation replaced after a crash or a missed heartbeat.
        var workerRestarts = 0
    }
}
