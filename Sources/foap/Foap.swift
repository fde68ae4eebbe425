import ArgumentParser

/// The `foap` command line. The root is synchronous on purpose: `serve` blocks signals for its signalfd before
/// any thread exists, which an async root (whose main task runs after the concurrency runtime started) cannot
/// promise.
@main
struct Foap: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "foap",
        abstract: "The Fast OpenAI API Proxy: one OpenAI-compatible URL in front of many model servers.",
        subcommands: [ServeCommand.self, CheckCommand.self, CtlCommand.self, KeysCommand.self, WorkerCommand.self],
        defaultSubcommand: ServeCommand.self
    )
}
