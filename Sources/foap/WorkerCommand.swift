import ArgumentParser
import FOAPConfig
import FOAPLimits
import FOAPProxy
import FOAPSystemd
import FOAPWorker
import FOAPWorkerChannel
import Foundation
import Logging

/// `foap worker`: one worker process, started by the master with its listeners, its worker channel and the
/// frozen config snapshot (see DESIGN.md). Not for people to run. Its life is `WorkerLifecycle`'s; this command
/// only reads what the master handed over and sets the process up.
struct WorkerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Run one worker process (started by `foap serve`).",
        shouldDisplay: false
    )

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
        var limiter: RateLimiter?
        if let shared = worker.limits {
            limiter = try SharedLimits.limiter(
                region: LimitsRegion(inheriting: shared.fd), holder: shared.holder, snapshot: snapshot,
                fleet: settings.limits.fleet)
        }
        let lifecycle = WorkerLifecycle(
            runtime: settings.runtime(
                snapshot: snapshot,
                logger: logger,
                accessLog: JSONAccessLogWriter.make(settings: settings, metadata: processMetadata, environment: environment),
                limiter: limiter
            ),
            channel: ChannelToMaster(fd: worker.channelFD)
        )
        try runBlocking {
            try await lifecycle.run(
                listeners: .inherited(descriptors: worker.listenFDs, backlog: Self.listenBacklog),
                drain: drain
            )
        }
        withExtendedLifetime(signals) {}
        logger.debug("worker exiting")
    }
}
