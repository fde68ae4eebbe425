import ArgumentParser
import FOAPSupervisor
import Foundation

/// `foap ctl`: talks to a running master over its control socket.
///
/// `foap ctl reload --wait` is the unit's `ExecReload=`: it returns once the config read after the request serves
/// (exit 0) or with the config errors (exit 1), so `systemctl reload` means the same on every systemd version and
/// never depends on how systemd orders the kill's exit against the master's READY=1.
struct CtlCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ctl",
        abstract: "Control a running master: status, reload [--wait] [--force], drain, limits.",
        discussion: """
            The socket is --socket, else FOAP_CONTROL_SOCKET, else $RUNTIME_DIRECTORY/control.sock (systemd's \
            RuntimeDirectory=foap gives /run/foap/control.sock).
            """
    )

    enum Action: String, ExpressibleByArgument, CaseIterable {
        case status, reload, drain, limits
    }

    @Argument(help: "status, reload, drain or limits (each limited key's usage, remaining budget and resets).")
    var action: Action

    @Flag(name: .long, help: "reload: return only once the new config serves; exit 1 with its errors if invalid.")
    var wait = false

    @Flag(
        name: .long,
        help: "reload: apply the config even if it has no models while the running one has some (refused otherwise)."
    )
    var force = false

    @Option(name: .long, help: "The master's control socket.")
    var socket: String?

    @Option(name: .long, help: "Seconds to wait for the answer (default: 120).")
    var timeout: Double = 120

    func run() throws {
        guard !self.force || self.action == .reload else {
            throw ValidationError("--force applies to reload only")
        }
        let environment = ProcessInfo.processInfo.environment
        guard let path = self.socket ?? ControlSocketPath.resolve(environment: environment) else {
            throw ValidationError("no control socket: pass --socket or set FOAP_CONTROL_SOCKET")
        }
        let command: ControlCommand
        switch self.action {
        case .status: command = .status
        case .reload: command = .reload(wait: self.wait, force: self.force)
        case .drain: command = .drain
        case .limits: command = .limits
        }
        let reply: ControlReply
        do {
            reply = try ControlClient.send(command, to: path, timeout: .milliseconds(Int64(self.timeout * 1000)))
        } catch {
            FileHandle.standardError.write(Data("foap ctl: \(error)\n".utf8))
            throw ExitCode(2)
        }
        let output = reply.lines.map { $0 + "\n" }.joined()
        if reply.ok {
            print(output, terminator: "")
        } else {
            FileHandle.standardError.write(Data(output.utf8))
            throw ExitCode(1)
        }
    }
}

/// Where the master puts its control socket, and where `foap ctl` looks for it.
enum ControlSocketPath {
    static func resolve(environment: [String: String]) -> String? {
        if let path = environment["FOAP_CONTROL_SOCKET"], !path.isEmpty {
            return path
        }
        // systemd passes every RuntimeDirectory= as one colon-separated list; foap's unit names one.
        if let directories = environment["RUNTIME_DIRECTORY"],
            let first = directories.split(separator: ":").first, !first.isEmpty
        {
            return first + "/control.sock"
        }
        return nil
    }
}
