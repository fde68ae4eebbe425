import Logging
import Synchronization

/// Sets up swift-log for a foap process: one format, one level and one set of process metadata for every logger.
///
/// The master and each worker call `bootstrap` first thing in `main`, after parsing the command line. Every
/// `Logger(label:)` created afterwards writes JSON lines, journal records or text lines, tagged with the process
/// metadata (`pid`, `worker`, `generation`), so records of all processes of one service can be told apart.
public enum FOAPLogging {
    /// Whether `bootstrap` already ran: swift-log traps on a second `LoggingSystem.bootstrap`.
    private static let isBootstrapped = Mutex(false)

    /// Installs foap's log handlers as the process-wide swift-log backend.
    ///
    /// Only the first call has an effect; later calls return without doing anything, so a library path that
    /// bootstraps "just in case" cannot crash the process.
    ///
    /// - Parameters:
    ///   - format: The requested format; `.auto` is resolved against `environment` and the process's fd 1 and 2.
    ///   - level: The minimum level of every logger created from now on.
    ///   - metadata: Merged into every record, e.g. `["pid": "123", "worker": "0", "generation": "3"]`.
    ///   - environment: The process environment (`JOURNAL_STREAM` decides `.auto`).
    public static func bootstrap(
        format: LogFormat,
        level: Logger.Level,
        metadata: Logger.Metadata,
        environment: [String: String]
    ) {
        let isFirstCall = self.isBootstrapped.withLock { isBootstrapped in
            defer { isBootstrapped = true }
            return !isBootstrapped
        }
        guard isFirstCall else {
            return
        }
        let factory = self.makeHandlerFactory(
            format: format.resolved(environment: environment),
            level: level,
            metadata: metadata
        )
        LoggingSystem.bootstrap(factory, metadataProvider: nil)
    }

    /// Parses a level as operators write it (`INFO`, `debug`, `WARN`, …); `nil` when it names no level.
    ///
    /// Accepts swift-log's level names in any case, plus the syslog and log4j spellings people type from habit:
    /// `warn`, `err`, `crit` and `fatal`.
    public static func parseLevel(_ text: String) -> Logger.Level? {
        let words = text.split(whereSeparator: \.isWhitespace)
        guard words.count == 1 else {
            return nil
        }
        let name = words[0].lowercased()
        if let level = Logger.Level(rawValue: name) {
            return level
        }
        switch name {
        case "warn": return .warning
        case "err": return .error
        case "crit", "fatal": return .critical
        default: return nil
        }
    }

    /// The factory `bootstrap` installs, separate so tests can inspect the handlers without bootstrapping.
    ///
    /// - Precondition: `format` is resolved (not `.auto`).
    static func makeHandlerFactory(
        format: LogFormat,
        level: Logger.Level,
        metadata: Logger.Metadata,
        sink: LogSink = .standardOutput,
        sender: any JournalSender = SystemdJournalSender()
    ) -> @Sendable (String, Logger.MetadataProvider?) -> any LogHandler {
        precondition(format != .auto, "resolve the log format before making handlers")
        return { label, metadataProvider in
            var handler: any LogHandler
            switch format {
            case .journal:
                handler = JournaldLogHandler(label: label, sender: sender, metadata: metadata)
            case .text:
                handler = TextLogHandler(label: label, sink: sink, metadata: metadata)
            case .json, .auto:
                handler = JSONLogHandler(label: label, sink: sink, metadata: metadata)
            }
            handler.logLevel = level
            handler.metadataProvider = metadataProvider
            return handler
        }
    }
}
