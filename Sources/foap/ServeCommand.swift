import ArgumentParser
import FOAPConfig
import FOAPProxy
import FOAPSupervisor
import FOAPSystemd
import Foundation
import Logging

/// `foap serve`: the master with N pre-forked workers, or (`--workers 0`) the proxy in this one process.
struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve the OpenAI API (the default command)."
    )

    @OptionGroup var options: CommonOptions

    func run() throws {
        ProcessSetup.ignoreBrokenPipes()
        let settings: Settings
        do {
            settings = try Settings(options: self.options)
        } catch {
            throw ValidationError(String(describing: error))
        }
        if settings.workers == 0 {
            try SingleProcessServer(settings: settings).run()
        } else {
            try MasterProcess(settings: settings).run()
        }
    }
}

/// Loads and validates the config directory the way every command does.
enum ConfigLoading {
    static func load(_ settings: Settings) -> Result<ConfigSnapshot, ConfigLoadError> {
        do {
            return .success(try ConfigLoader(directory: settings.configDirectory).load())
        } catch {
            return .failure(error)
        }
    }

    static func logWarnings(_ snapshot: ConfigSnapshot, logger: Logger) {
        for warning in snapshot.warnings {
            logger.warning("config warning", metadata: ["detail": .string(warning.description)])
        }
    }
}
