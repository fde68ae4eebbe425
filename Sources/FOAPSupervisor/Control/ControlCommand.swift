/// One request on the master's control socket: a single line of text, answered by a reply and a close.
///
/// Text, not JSON, so an operator can also talk to the socket with `socat - UNIX-CONNECT:…` when `foap ctl` is not
/// at hand. The reply's first line is `ok` or `error`; every further line is for the reader.
public enum ControlCommand: Equatable, Sendable {
    /// Generation, config digest, workers, uptime and the last reload result.
    case status
    /// A forced reload. `wait`: answer only once the config read after this request serves (or was rejected).
    /// `force` (`--force`): apply the config even if it has no models while the running one has some; without it
    /// such a reload is refused.
    case reload(wait: Bool, force: Bool = false)
    /// Drain every worker and exit, as SIGTERM does.
    case drain
    /// Each limited key's usage, remaining budget and reset times, from the live shared state.
    case limits

    /// The line a client sends (without its newline).
    public var line: String {
        switch self {
        case .status: "status"
        case .reload(let wait, let force): "reload" + (wait ? " --wait" : "") + (force ? " --force" : "")
        case .drain: "drain"
        case .limits: "limits"
        }
    }

    /// Parses a line as `line` writes it (`reload`'s options in any order, each at most once); extra blanks are
    /// ignored.
    public init?(line: String) {
        let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" }).map(String.init)
        switch words.first {
        case "status" where words.count == 1: self = .status
        case "drain" where words.count == 1: self = .drain
        case "limits" where words.count == 1: self = .limits
        case "reload":
            let options = words.dropFirst()
            guard Set(options).count == options.count, options.allSatisfy({ $0 == "--wait" || $0 == "--force" }) else {
                return nil
            }
            self = .reload(wait: options.contains("--wait"), force: options.contains("--force"))
        default: return nil
        }
    }
}

/// The answer to a `ControlCommand`.
public struct ControlReply: Equatable, Sendable {
    public var ok: Bool
    public var lines: [String]

    public init(ok: Bool, lines: [String]) {
        self.ok = ok
        self.lines = lines
    }

    /// `ok`/`error`, then the lines, each ended by a newline.
    public var text: String {
        ([self.ok ? "ok" : "error"] + self.lines).map { $0 + "\n" }.joined()
    }

    /// Reads `text`; anything that does not start with `ok` is an error.
    public init(text: String) {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if lines.last == "" {
            lines.removeLast()
        }
        let first = lines.first ?? ""
        self.ok = first == "ok"
        self.lines = first == "ok" || first == "error" ? Array(lines.dropFirst()) : lines
    }

    static func answer(_ outcome: ReloadOutcome) -> ControlReply {
        switch outcome {
        case .served(let generation):
            ControlReply(ok: true, lines: ["generation \(generation) serves the current configuration"])
        case .failed(let errors):
            ControlReply(ok: false, lines: errors)
        }
    }
}
