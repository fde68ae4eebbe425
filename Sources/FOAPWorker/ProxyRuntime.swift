import FOAPConfig
import FOAPLimits
import FOAPProxy
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// Runs the proxy in the current process — the whole life of a worker, or of `serve --workers 0` — from the
/// first accept to the end of the drain. Knows nothing about masters or signals: its callers tell it when to drain.
public struct ProxyRuntime: Sendable {
    public var snapshot: ConfigSnapshot
    public var configuration: ProxyConfiguration
    /// Event loop threads (`FOAP_THREADS`).
    public var threads: Int
    /// Seconds a drain may take before the remaining connections are closed (`FOAP_DRAIN_TIMEOUT`).
    public var drainTimeout: Double
    public var logger: Logger
    /// Where access records go; nil: through `logger`.
    public var accessLog: (any AccessLogWriter)?
    /// This process's request series (a worker reports them to its master with each heartbeat).
    public var metrics: RequestMetrics
    /// Where `GET /metrics` gets its text; nil: this process's own series.
    public var metricsSource: MetricsSource?
    /// Per-key limits over the host's shared region; nil when no key has limits.
    public var limiter: RateLimiter?

    public init(
        snapshot: ConfigSnapshot,
        configuration: ProxyConfiguration,
        threads: Int,
        drainTimeout: Double,
        logger: Logger,
        accessLog: (any AccessLogWriter)? = nil,
        metrics: RequestMetrics = RequestMetrics(),
        metricsSource: MetricsSource? = nil
    ) {
        self.snapshot = snapshot
        self.configuration = configuration
        self.threads = threads
        self.drainTimeout = drainTimeout
        self.logger = logger
        self.accessLog = accessLog
        self.metrics = metrics
        self.metricsSource = metricsSource
    }

    /// - Parameters:
    ///   - listeners: where to accept.
    ///   - drain: completes when the process should stop accepting and finish.
    ///   - acceptGate: when given, `ready` is called (with no addresses) as soon as the proxy is set up, and
    ///     accepting starts only once the gate fires (or never, if `drain` fires first). A worker waits for its
    ///     master's `accept` this way, so that it never accepts on a listener its predecessor still accepts on.
    ///   - ready: called with the bound addresses once connections are being accepted (see `acceptGate`).
    ///   - listenersClosed: called once this process has stopped accepting.
    ///   - heartbeat: called on an event loop every `heartbeatInterval` until the loops stop, so a stuck loop (not
    ///     only a dead process) goes quiet.
    public func run(
        listeners: ListenerSource,
        drain: OneShotSignal,
        acceptGate: OneShotSignal? = nil,
        ready: @escaping @Sendable ([SocketAddress]) -> Void,
        listenersClosed: @escaping @Sendable () -> Void,
        heartbeatInterval: TimeAmount = .milliseconds(500),
        heartbeat: (@Sendable () -> Void)? = nil
    ) async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: self.threads)
        let engine = try ProxyEngine(
            snapshot: self.snapshot,
            configuration: self.configuration,
            eventLoopGroup: group,
            logger: self.logger,
            accessLog: self.accessLog,
            metrics: self.metrics,
            metricsSource: self.metricsSource,
            limiter: self.limiter
        )
        let server = ProxyServer(engine: engine, group: group)
        let heartbeatTask = heartbeat.map { beat in
            group.next().scheduleRepeatedTask(initialDelay: heartbeatInterval, delay: heartbeatInterval) { _ in beat() }
        }
        if let acceptGate {
            ready([])
            Task { [drain] in
                await drain.wait()
                acceptGate.fire()
            }
            await acceptGate.wait()
            if !drain.hasFired {
                _ = try await server.start(listeners)
            }
        } else {
            ready(try await server.start(listeners))
        }
        await drain.wait()
        let deadline = self.drainTimeout
        self.logger.info("draining", metadata: ["drain_timeout_s": .stringConvertible(deadline)])
        let finished = await Self.withTimeout(seconds: deadline) {
            await server.drain(listenersClosed: listenersClosed)
        }
        if !finished {
            self.logger.warning("drain timeout reached; closing the remaining connections")
        }
        heartbeatTask?.cancel()
        try? await engine.shutdown()
        try? await group.shutdownGracefully()
    }

    /// Runs `body`, giving up after `seconds`. Returns whether it finished in time. Unstructured on purpose: a drain
    /// waits on futures that ignore cancellation, and the process exits after a timeout anyway.
    private static func withTimeout(seconds: Double, _ body: @escaping @Sendable () async -> Void) async -> Bool {
        let done = OneShotSignal()
        let finished = NIOLockedValueBox(false)
        Task {
            await body()
            finished.withLockedValue { $0 = true }
            done.fire()
        }
        Task {
            try? await Task.sleep(for: .milliseconds(Int(seconds * 1000)))
            done.fire()
        }
        await done.wait()
        return finished.withLockedValue { $0 }
    }
}
