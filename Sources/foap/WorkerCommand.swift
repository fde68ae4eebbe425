import ArgumentParser
import FOAPConfig
import FOAPProxy
import FOAPSupervisor
import FOAPSystemd
import Foundation
import Logging
import NIOCore

/// `foap worker`: one worker process, started by the master with its listeners, a control socket and the
/// frozen config snapshot (see DESIGN.md). Not for people to run.
struct WorkerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Run one worker process (started by `foap serve`).",
        shouldDisplay: false
    )

    /// Heartbeats come from the event loop itself, so a stuck loop (not only a dead process) stops them.
    static let heartbeatInterval = TimeAmount.milliseconds(500)
    /// The backlog the master gives the shared listeners (NIO would shrink it to 128).
    static let listenBacklog: CInt = 4096

    func run() throws {
        ProcessSetup.ignoreBrokenPipes()
        let environment = ProcessInfo.processInfo.environment
        let worker = try WorkerEnvironment.fromProcessEnvironment(environment)
        let settings = try Settings(options: CommonOptions.parse([]), environment: environment)
        let processMetadata: Logger.Metadata = [
            "pid": .stringConvertible(getpid()), "worker": .stringConvertible(worker.slot),
            "generation": .stringConvertible(worker.generation),
        ]
        FOAPLogging.bootstrap(
            format: settings.logFormat,
            level: settings.logLevel,
            metadata: processMetadata,
            environment: environment
        )
        let logger = Logger(label: "foap")
        let snapshot = try ConfigSnapshot(encoded: worker.readSnapshot())

        // The terminal's SIGINT/SIGHUP reach the whole process group; only the master acts on them.
        signal(SIGINT, SIG_IGN)
        signal(SIGHUP, SIG_IGN)
        let drain = OneShotSignal()
        let signals = SignalWatcher(signals: [SIGTERM]) { _, _ in
            logger.info("SIGTERM received")
            drain.fire()
        }
        let control = WorkerControlChannel(fd: worker.controlFD)
        let accept = OneShotSignal()
        control.startReceiving(
            onAccept: { accept.fire() },
            onDrain: { drain.fire() },
            onMasterGone: {
                logger.warning("master is gone; draining")
                drain.fire()
            }
        )
        let metrics = RequestMetrics()
        let runtime = ProxyRuntime(
            settings: settings,
            snapshot: snapshot,
            logger: logger,
            accessLog: JSONAccessLogWriter.make(settings: settings, metadata: processMetadata, environment: environment),
            metrics: metrics,
            metricsSource: { reply in control.requestExposition(reply) }
        )
        try runBlocking {
            try await runtime.run(
                listeners: .inherited(descriptors: worker.listenFDs, backlog: Self.listenBacklog),
                drain: drain,
                acceptGate: accept,
                ready: { _ in
                    control.send(.ready)
                    logger.debug("worker ready", metadata: ["models": .stringConvertible(snapshot.models.count)])
                },
                listenersClosed: { control.send(.draining) },
                heartbeatInterval: Self.heartbeatInterval,
                heartbeat: {
                    control.send(.heartbeat)
                    // Cumulative totals, only when they changed: the master adds every worker's up.
                    if let report = metrics.render(onlyIfChanged: true) {
                        control.sendMetricsReport(report)
                    }
                }
            )
        }
        // The requests finished since the last heartbeat: the master reads this before it sees the exit.
        if let report = metrics.render() {
            control.sendMetricsReport(report, everything: true)
        }
        withExtendedLifetime(signals) {}
        logger.debug("worker exiting")
    }
}
