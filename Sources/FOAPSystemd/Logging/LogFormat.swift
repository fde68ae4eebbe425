/// How a foap process writes its log records.
///
/// Operators pick one on the command line; `auto` is the default because the right answer depends on where the
/// process runs: under systemd the journal keeps structured fields natively (`journalctl FOAP_MODEL=…`), anywhere
/// else JSON lines are what log shippers parse. `text` exists for a person reading a terminal.
public enum LogFormat: String, Sendable, CaseIterable {
    /// `journal` when stdout or stderr is connected to the journal, `json` otherwise.
    case auto
    /// One JSON object per line on stdout.
    case json
    /// Native journald records with one field per metadata key.
    case journal
    /// One human-readable line per record on stdout.
    case text

    /// The concrete format to use in this process.
    ///
    /// `auto` becomes `.journal` only when `JOURNAL_STREAM` names the very stream behind fd 2 or fd 1: systemd sets
    /// the variable for the service's own output, but a child whose output was redirected (a pipe, a file) inherits
    /// it too, and that child must not bypass the redirection. Every other format is returned unchanged.
    ///
    /// - Parameter environment: The process environment, passed in so callers and tests decide what it holds.
    /// - Returns: `.json`, `.journal` or `.text`; never `.auto`.
    public func resolved(environment: [String: String]) -> LogFormat {
        self.resolved(
            environment: environment,
            outputStreams: [JournalStream.identity(ofFileDescriptor: 2), JournalStream.identity(ofFileDescriptor: 1)]
        )
    }

    /// `resolved(environment:)` with the identities of the process's output streams given, so tests need not
    /// touch the real fd 1 and fd 2.
    func resolved(environment: [String: String], outputStreams: [JournalStream.Identity?]) -> LogFormat {
        guard self == .auto else {
            return self
        }
        guard let journalStream = environment["JOURNAL_STREAM"].flatMap(JournalStream.Identity.init(parsing:)) else {
            return .json
        }
        return outputStreams.contains(journalStream) ? .journal : .json
    }
}
