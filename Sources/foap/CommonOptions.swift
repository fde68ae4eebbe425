import ArgumentParser

/// Options shared by `serve` and `worker`; each falls back to its environment variable (see `Settings`).
struct CommonOptions: ParsableArguments {
    @Option(name: .long, help: "Directory of *.json model configs (env FOAP_CONFIG_DIR, default: configs).")
    var configDir: String?

    @Option(name: .long, help: "Address to listen on (env FOAP_HOST, default: 0.0.0.0).")
    var host: String?

    @Option(name: .long, help: "Port to listen on (env FOAP_PORT, default: 8000).")
    var port: Int?

    @Option(name: .long, help: "Worker processes; 0 serves in this process (env FOAP_WORKERS, default: CPU count).")
    var workers: Int?

    @Option(name: .long, help: "trace, debug, info, notice, warning, error, critical (env FOAP_LOGLEVEL, default: INFO).")
    var logLevel: String?

    @Option(name: .long, help: "auto, json, journal or text (env FOAP_LOG_FORMAT, default: auto).")
    var logFormat: String?

    @Option(name: .long, help: "Public base URL of this gateway, for image URLs (env BASE_URL).")
    var baseURL: String?
}
