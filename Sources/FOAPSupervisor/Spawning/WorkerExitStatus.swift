#if canImport(Glibc)
import Glibc
#endif

/// How a child process ended, decoded from a waitpid(2) status so a log line can say "exit code 3" or "SIGKILL".
enum WorkerExitStatus: Equatable, Sendable, CustomStringConvertible {
    case exited(code: Int32)
    case signaled(signal: Int32)

    /// Decodes a raw wait status (WIFEXITED / WTERMSIG done by hand: the macros are not visible to Swift).
    init(waitStatus: Int32) {
        let signal = waitStatus & 0x7f
        if signal == 0 {
            self = .exited(code: (waitStatus >> 8) & 0xff)
        } else {
            self = .signaled(signal: signal)
        }
    }

    var description: String {
        switch self {
        case .exited(let code): return "exit code \(code)"
        case .signaled(let signal): return "signal \(Self.signalName(signal))"
        }
    }

    /// `SIGKILL` rather than `9`: what an operator greps for; a signal without a name stays a number.
    static func signalName(_ signal: Int32) -> String {
        Self.signalNames[signal] ?? String(signal)
    }

    private static let signalNames: [Int32: String] = [
        SIGHUP: "SIGHUP", SIGINT: "SIGINT", SIGQUIT: "SIGQUIT", SIGILL: "SIGILL", SIGTRAP: "SIGTRAP",
        SIGABRT: "SIGABRT", SIGBUS: "SIGBUS", SIGFPE: "SIGFPE", SIGKILL: "SIGKILL", SIGUSR1: "SIGUSR1",
        SIGSEGV: "SIGSEGV", SIGUSR2: "SIGUSR2", SIGPIPE: "SIGPIPE", SIGALRM: "SIGALRM", SIGTERM: "SIGTERM",
        SIGCHLD: "SIGCHLD", SIGCONT: "SIGCONT", SIGSTOP: "SIGSTOP", SIGTSTP: "SIGTSTP", SIGXCPU: "SIGXCPU",
        SIGXFSZ: "SIGXFSZ", SIGSYS: "SIGSYS",
    ]
}
