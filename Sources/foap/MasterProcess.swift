import FOAPConfig
import FOAPLimits
import FOAPSupervisor
import FOAPSystemd
import Foundation
import Logging

/// `foap serve` with workers: hands the command line's settings to `Supervisor` and the config loader to it as
/// a closure, so the master validates config without ever linking proxy code into its decisions.
struct MasterProcess {
    let settings: Settings

    func run() throws {
        // Workers resolve their settings from the environment: export what the command line decided.
        for (name, value) in self.settings.environment {
            setenv(name, value, 1)
        }
        FOAPLogging.bootstrap(
            format: self.settings.logFormat,
            level: self.settings.logLevel,
            metadata: ["pid": .stringConvertible(getpid()), "role": "master"],
            environment: ProcessInfo.processInfo.environment
        )
        let logger = Logger(label: "foap")
        let settings = self.settings
        if settings.idSecretGenerated {
            let message = "no FOAP_ID_SECRET: response ids are routed with a secret made for this master's life "
                + "(they survive reloads, not restarts; every instance of a fleet needs the same FOAP_ID_SECRET)"
            logger.notice("\(message)")
        }
        // The key file is part of the config: watched like the directory, so an edit reloads (zero downtime).
        let clientKeysPath = ConfigLoader(directory: settings.configDirectory).clientKeysPath
        if clientKeysPath == nil {
            KeylessMode.logWarning(logger)
        }
        let region = try SharedLimits.openRegion(settings, logger: logger)
        let report = SharedLimits.Report(region: region)
        var configuration = SupervisorConfiguration(
            workers: settings.workers,
            host: settings.host,
            port: settings.port,
            configDirectory: settings.configDirectory,
            extraWatchedPaths: clientKeysPath.map { [$0] } ?? [],
            drainTimeout: .milliseconds(Int64(settings.drainTimeout * 1000)),
            controlSocketPath: settings.controlSocket,
            loadConfig: {
                let outcome = Self.loadOutcome(settings)
                if case .loaded(let bytes, _, _, _, _) = outcome, let snapshot = try? ConfigSnapshot(encoded: bytes) {
                    report.keys = snapshot.clientKeys
                }
                return outcome
            }
        )
        configuration.sharedLimits = SharedLimitsHandoff(
            fd: region.fileDescriptor, holders: LimitsRegion.maximumHolders, reclaim: { region.reclaim(holder: $0) },
            report: { report.lines() }, metrics: { report.metricsText() })
        let status = try Supervisor(configuration: configuration, logger: logger).run()
        region.flush()
        exit(status)
    }

    static func loadOutcome(_ settings: Settings) -> ConfigLoadOutcome {
        switch ConfigLoading.load(settings) {
        case .success(let snapshot):
            return .loaded(
                snapshot: snapshot.encoded(),
                digest: snapshot.sourceDigest,
                summary: KeylessMode.summary(snapshot),
                models: snapshot.models.count,
                warnings: snapshot.warnings.map(\.description)
            )
        case .failure(let error):
            return .failed(errors: error.lines)
        }
    }
}
