import FOAPWorkerChannel

/// Identifies one worker process for its whole life (a pid can be reused; this number is not).
struct WorkerID: Hashable, Comparable, Sendable, CustomStringConvertible {
    let rawValue: Int

    static func < (lhs: WorkerID, rhs: WorkerID) -> Bool {
        lhs.rawValue < rhs.rawValue
    }

    var description: String { "#\(self.rawValue)" }
}

/// One client of the master's control socket (`foap ctl`), for as long as its connection is open.
struct ControlClientID: Hashable, Comparable, Sendable {
    let rawValue: Int

    static func < (lhs: ControlClientID, rhs: ControlClientID) -> Bool {
        lhs.rawValue < rhs.rawValue
    }
}

/// How a reload that a `foap ctl reload --wait` client waits for ended.
enum ReloadOutcome: Equatable {
    /// The newest config (read after the request) serves in `generation`.
    case served(generation: Int)
    /// The config was invalid (one line per problem), or the new generation could not start; the old one serves on.
    case failed([String])
}

/// What the poll loop must do after feeding an event to `SupervisorStateMachine`; executed in order.
enum SupervisorAction: Equatable {
    /// Start a worker for `slot` with the snapshot of `generation`, then report `workerSpawned` or `workerSpawnFailed`.
    case spawnWorker(WorkerID, slot: Int, generation: Int)
    /// Send a lifecycle word on the worker's channel: `drain`, or `accept` (start accepting on the slot's listener).
    case send(MasterMessage, to: WorkerID)
    /// SIGKILL the worker's process.
    case killWorker(WorkerID, pid: Int32)
    /// Call the config loader, then report `configLoaded` with both flags as they are here.
    case loadConfig(forced: Bool, allowingNoModels: Bool = false)
    /// Keep this snapshot (the validated config's bytes) for the workers of `generation`: the spawns that follow
    /// hand it to them, until `releaseSnapshot`.
    case keepSnapshot(generation: Int, [UInt8])
    /// Forget the snapshot of a generation no worker will be spawned for any more.
    case releaseSnapshot(generation: Int)
    /// sd_notify READY=1 with a status line.
    case notifyReady(status: String)
    /// sd_notify RELOADING=1 + MONOTONIC_USEC with a status line.
    case notifyReloading(status: String)
    /// sd_notify STOPPING=1 with a status line.
    case notifyStopping(status: String)
    /// The master is stopping for good: the listeners stop taking connections nobody would accept, where nothing
    /// outside this process keeps them for the next start (systemd's socket or fd store does).
    case refuseNewConnections
    /// sd_notify STATUS= only.
    case notifyStatus(String)
    /// Write one lifecycle log record.
    case log(SupervisorLogEvent)
    /// Answer a `foap ctl` client (control socket) waiting for a reload, then close its connection.
    case answerReload(ControlClientID, ReloadOutcome)
    /// Leave the loop and return this exit code from `Supervisor.run()`.
    case exit(code: Int32)
}

/// One lifecycle record for the log: the state machine decides what happened, the driver words it.
enum SupervisorLogEvent: Equatable {
    case configInvalid(errors: [String])
    case configWarnings([String])
    case configUnchanged
    /// A valid config without models while `generation` serves `activeModels`: not applied (see `configLoaded`).
    case reloadRefusedNoModels(generation: Int, activeModels: Int)
    case workerSpawned(WorkerID, slot: Int, generation: Int, pid: Int32)
    case workerSpawnFailed(WorkerID, slot: Int, generation: Int, reason: String)
    case workerReady(WorkerID, slot: Int, generation: Int)
    case workerDraining(WorkerID, slot: Int, generation: Int)
    case workerExited(WorkerID, slot: Int, generation: Int, pid: Int32, status: WorkerExitStatus, expected: Bool)
    case workerKilled(WorkerID, slot: Int, generation: Int, pid: Int32, reason: WorkerKillReason)
    case respawnScheduled(slot: Int, generation: Int, delay: Duration)
    case started(generation: Int, summary: String)
    case allWorkersReady(generation: Int)
    case reloadStarted(generation: Int, forced: Bool)
    case reloadDone(generation: Int, duration: Duration)
    case reloadAbandoned(generation: Int, reason: String, duration: Duration)
    case shutdownStarted
    case shutdownForced(reason: String)
}
