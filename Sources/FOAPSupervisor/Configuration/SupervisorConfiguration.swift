/// Everything the master needs to run, as one immutable value built by `foap serve`.
///
/// The config itself arrives through `loadConfig`, a closure, so the master never imports the config model or any
/// proxy code and stays testable with a fake loader.
public struct SupervisorConfiguration: Sendable {
    /// Number of worker slots: one listener and one worker process each.
    public var workers: Int
    /// Listen address: an IPv4 or IPv6 literal, `localhost`, `0.0.0.0` or `::`.
    public var host: String
    /// Listen port; 0 lets the kernel choose one (tests), shared by every slot.
    public var port: Int
    /// The config directory watched with inotify; every change triggers a debounced rescan.
    public var configDirectory: String
    /// Further files whose changes trigger a rescan (their parent directories are watched, filtered by name).
    public var extraWatchedPaths: [String]
    /// The binary started as `<executablePath> worker`. Kept as a path, so a binary replaced at the same path is
    /// picked up by the next generation.
    public var executablePath: String
    /// How long a draining worker may take to finish its in-flight work before it is SIGKILLed.
    public var drainTimeout: Duration
    /// How long a new worker may take to report `ready`.
    public var readyTimeout: Duration
    /// How long a ready worker may stay silent before it is considered hung and SIGKILLed.
    public var heartbeatTimeout: Duration
    /// Quiet time after the last file event before the config is rescanned.
    public var reloadDebounce: Duration
    /// Where `foap ctl` reaches the master (a unix socket created at start, removed at exit); nil: no control socket.
    public var controlSocketPath: String?
    /// Loads and validates the config; called once at start and once per (debounced) change or SIGHUP.
    public var loadConfig: @Sendable () -> ConfigLoadOutcome
    /// The host's shared limits region, handed to every worker of every generation; nil: none.
    public var sharedLimits: SharedLimitsHandoff?

    /// - Parameters:
    ///   - workers: slots; `nil` means one per CPU.
    ///   - executablePath: `nil` means the resolved `/proc/self/exe` of this process.
    public init(
        workers: Int? = nil,
        host: String = "127.0.0.1",
        port: Int = 8080,
        configDirectory: String,
        extraWatchedPaths: [String] = [],
        executablePath: String? = nil,
        drainTimeout: Duration = .seconds(60),
        readyTimeout: Duration = .seconds(30),
        heartbeatTimeout: Duration = .seconds(3),
        reloadDebounce: Duration = .milliseconds(150),
        controlSocketPath: String? = nil,
        loadConfig: @escaping @Sendable () -> ConfigLoadOutcome
    ) {
        self.workers = workers ?? ProcessorCount.online()
        self.host = host
        self.port = port
        self.configDirectory = configDirectory
        self.extraWatchedPaths = extraWatchedPaths
        self.executablePath = executablePath ?? ExecutablePath.resolveSelf()
        self.drainTimeout = drainTimeout
        self.readyTimeout = readyTimeout
        self.heartbeatTimeout = heartbeatTimeout
        self.reloadDebounce = reloadDebounce
        self.controlSocketPath = controlSocketPath
        self.loadConfig = loadConfig
    }
}

/// The result of one config load, as the master needs it: bytes to hand over, a digest to compare, words to log.
public enum ConfigLoadOutcome: Sendable, Equatable {
    /// A valid config. `snapshot` is given to every worker of the next generation unchanged; `digest` decides whether
    /// anything changed; `summary` (e.g. "12 models") goes into the systemd status line; `models` is how many models
    /// it serves (a reload that would take every model away is refused unless forced).
    case loaded(snapshot: [UInt8], digest: String, summary: String, models: Int, warnings: [String])
    /// An invalid config: one `file: key.path: message` line per problem. The running generation keeps serving.
    case failed(errors: [String])
}

/// The shared-memory region of per-key limits, as the master hands it on: it creates and keeps the region (the
/// `foap` command does, with `FOAPLimits`); the master gives each live worker a holder id in it and, when it reaps a
/// worker, gives back what that worker held before the id is reused. It never decides an admission.
public struct SharedLimitsHandoff: Sendable {
    /// The region's descriptor, inherited by every worker at 5+L.
    public var fd: Int32
    /// How many holder ids the region has (live workers at once, every generation counted).
    public var holders: Int
    /// Gives back the concurrency slots holder `id` still held (its worker is gone); returns how many.
    public var reclaim: @Sendable (_ holder: Int) -> Int
    /// `foap ctl limits`: one line per limit of every limited key, read from the live region.
    public var report: @Sendable () -> [String]
    /// The region's gauges (requests in flight and budget tokens used, per scope) in the Prometheus text format, for
    /// `/metrics`: the master reads them from the region at scrape time, so every worker's share is in them.
    public var metrics: @Sendable () -> String

    public init(
        fd: Int32, holders: Int, reclaim: @escaping @Sendable (Int) -> Int,
        report: @escaping @Sendable () -> [String] = { [] }, metrics: @escaping @Sendable () -> String = { "" }
    ) {
        self.fd = fd
        self.holders = holders
        self.reclaim = reclaim
        self.report = report
        self.metrics = metrics
    }
}
