import FOAPConfig
import FOAPLimits
import FOAPProxy
import FOAPSystemd
import FOAPWorker
import Foundation
import Logging
import NIOCore
import NIOConcurrencyHelpers
import NIOPosix

/// `foap serve --workers 0`: the proxy in this process, for development and tests. SIGINT/SIGTERM drain it;
/// a second one ends it at once. There is no hot reload in this mode (that is the master's job).
struct SingleProcessServer {
    let settings: Settings

    func run() throws {
        let processMetadata: Logger.Metadata = ["pid": .stringConvertible(getpid())]
        let environment = ProcessInfo.processInfo.environment
        FOAPLogging.bootstrap(
            format: self.settings.logFormat,
            level: self.settings.logLevel,
            metadata: processMetadata,
            environment: environment
        )
        let logger = Logger(label: "foap")
        let snapshot: ConfigSnapshot
        switch ConfigLoading.load(self.settings) {
        case .success(let loaded):
            snapshot = loaded
        case .failure(let error):
            for line in error.lines {
                logger.critical("invalid config", metadata: ["detail": .string(line)])
            }
            throw SettingsError("invalid config in \(self.settings.configDirectory)")
        }
        ConfigLoading.logWarnings(snapshot, logger: logger)
        if snapshot.clientKeys == nil {
            KeylessMode.logWarning(logger)
        }
        let drain = OneShotSignal()
        let signals = SignalWatcher(signals: [SIGINT, SIGTERM]) { signal, count in
            if count > 1 {
                logger.warning("second stop signal: exiting now")
                exit(1)
            }
            logger.info("stop signal received", metadata: ["signal": .stringConvertible(signal)])
            drain.fire()
        }
        let region = try SharedLimits.openRegion(self.settings, logger: logger)
        let runtime = self.settings.runtime(
            snapshot: snapshot,
            logger: logger,
            accessLog: JSONAccessLogWriter.make(
                settings: self.settings,
                metadata: processMetadata,
                environment: environment
            ),
            limiter: try SharedLimits.limiter(
                region: region, holder: 0, snapshot: snapshot, fleet: self.settings.limits.fleet)
        )
        let settings = self.settings
        try runBlocking {
            try await runtime.run(
                listeners: .bind(host: settings.host, port: settings.port),
                drain: drain,
                ready: { addresses in
                    logger.info(
                        "serving",
                        metadata: [
                            "address": .string(addresses.map { "\($0)" }.joined(separator: ",")),
                            "models": .stringConvertible(snapshot.models.count), "mode": "single-process",
                        ]
                    )
                },
                listenersClosed: {}
            )
        }
        withExtendedLifetime(signals) {}
        region.flush()
        logger.info("stopped")
    }
}
