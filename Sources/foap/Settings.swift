import FOAPConfig
import FOAPLimits
import FOAPProxy
import FOAPRedis
import FOAPSystemd
import FOAPWorker
import Foundation
import Logging
import NIOCore

/// Every runtime setting, resolved once: command-line option, else environment variable, else default.
/// The README's configuration reference lists the same names and defaults.
struct Settings: Sendable {
    var configDirectory: String
    var host: String
    var port: Int
    var workers: Int
    var threads: Int
    var logLevel: Logger.Level
    var logFormat: LogFormat
    var baseURL: String
    var drainTimeout: Double
    var keepAliveTimeout: Double
    var bodyTimeout: Double
    /// Where per-key limit usage is kept across restarts (`FOAP_STATE_DIR`, else systemd's `STATE_DIRECTORY`);
    /// nil: in memory only, for the master's life.
    var stateDirectory: String?
    var limits: LimitsSettings
    /// The secret of the id trailers (`FOAP_ID_SECRET`, else the systemd credential `foap-id-secret`); without
    /// either, a random one for this master's life (ids then survive reloads, not restarts; a fleet must share one).
    var idSecret: String
    /// No secret was configured: `idSecret` is this process's own random one.
    var idSecretGenerated = false
    var maxBodySize: Int
    var caBundle: String?
    var upstreamMaxConnections: Int
    /// The master's control socket for `foap ctl`; nil: none (there is no default location outside systemd).
    var controlSocket: String?
    /// `FOAP_LIMITS_REDIS_URL` as given (with its password), passed on to workers; its parsed form is in `limits`.
    var redisURLText: String?

    /// `--config-dir`, else `FOAP_CONFIG_DIR`, else `configs`: shared with `foap check`, which needs no other setting.
    static func configDirectory(option: String?, environment: [String: String]) -> String {
        if let option, !option.isEmpty { return option }
        if let variable = environment["FOAP_CONFIG_DIR"], !variable.isEmpty { return variable }
        return "configs"
    }

    init(options: CommonOptions, environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        func value(_ option: String?, _ variable: String) -> String? {
            if let option, !option.isEmpty { return option }
            if let env = environment[variable], !env.isEmpty { return env }
            return nil
        }
        func integer(_ option: Int?, _ variable: String, default fallback: Int, minimum: Int = 0) throws -> Int {
            if let option { return option }
            guard let text = environment[variable], !text.isEmpty else { return fallback }
            guard let number = Int(text), number >= minimum else {
                throw SettingsError("\(variable)=\(text) is not a whole number ≥ \(minimum)")
            }
            return number
        }
        func seconds(_ variable: String, default fallback: Double) throws -> Double {
            guard let text = environment[variable], !text.isEmpty else { return fallback }
            guard let number = Double(text), number > 0 else {
                throw SettingsError("\(variable)=\(text) is not a positive number of seconds")
            }
            return number
        }
        self.configDirectory = Self.configDirectory(option: options.configDir, environment: environment)
        self.host = value(options.host, "FOAP_HOST") ?? "0.0.0.0"
        self.port = try integer(options.port, "FOAP_PORT", default: 8000)
        guard (0...65535).contains(self.port) else { throw SettingsError("port \(self.port) is out of range") }
        self.workers = try integer(options.workers, "FOAP_WORKERS", default: System.coreCount)
        self.threads = try integer(nil, "FOAP_THREADS", default: 1, minimum: 1)
        let levelText = value(options.logLevel, "FOAP_LOGLEVEL") ?? "INFO"
        guard let level = FOAPLogging.parseLevel(levelText) else {
            throw SettingsError("log level '\(levelText)' is not one of trace, debug, info, notice, warning, error, critical")
        }
        self.logLevel = level
        let formatText = value(options.logFormat, "FOAP_LOG_FORMAT") ?? "auto"
        guard let format = LogFormat(rawValue: formatText.lowercased()) else {
            throw SettingsError("log format '\(formatText)' is not one of auto, json, journal, text")
        }
        self.logFormat = format
        self.baseURL = value(options.baseURL, "BASE_URL") ?? "http://localhost:8000"
        self.drainTimeout = try seconds("FOAP_DRAIN_TIMEOUT", default: 60)
        self.keepAliveTimeout = try seconds("FOAP_KEEPALIVE_TIMEOUT", default: 75)
        self.bodyTimeout = try seconds("FOAP_BODY_TIMEOUT", default: 60)
        self.stateDirectory = value(nil, "FOAP_STATE_DIR")
            ?? environment["STATE_DIRECTORY"].flatMap { $0.split(separator: ":").first.map(String.init) }
        var limits = LimitsSettings()
        limits.bytesPerToken = try integer(nil, "FOAP_LIMITS_BYTES_PER_TOKEN", default: 4, minimum: 1)
        limits.defaultOutputTokens = try integer(nil, "FOAP_LIMITS_DEFAULT_OUTPUT_TOKENS", default: 512)
        limits.fleet = try Self.fleet(environment: environment, integer: { try integer(nil, $0, default: $1, minimum: 1) })
        self.limits = limits
        let credential = environment["CREDENTIALS_DIRECTORY"].flatMap {
            try? String(contentsOfFile: $0 + "/foap-id-secret", encoding: .utf8)
        }?.trimmingCharacters(in: .whitespacesAndNewlines)
        if let configured = value(nil, "FOAP_ID_SECRET") ?? credential.flatMap({ $0.isEmpty ? nil : $0 }) {
            self.idSecret = configured
        } else {
            self.idSecret = (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
            self.idSecretGenerated = true
        }
        self.maxBodySize = try integer(nil, "FOAP_MAX_BODY_SIZE", default: 100 * 1024 * 1024, minimum: 1)
        self.caBundle = value(nil, "FOAP_CA_BUNDLE")
        self.upstreamMaxConnections = try integer(nil, "FOAP_UPSTREAM_MAX_CONNECTIONS", default: 1024, minimum: 1)
        self.controlSocket = ControlSocketPath.resolve(environment: environment)
        self.redisURLText = self.limits.fleet == nil ? nil : environment["FOAP_LIMITS_REDIS_URL"]
    }

    /// Fleet-wide limits through Redis/Valkey when `FOAP_LIMITS_REDIS_URL` is set; nil (per host) otherwise.
    /// The host id, unless `FOAP_LIMITS_HOST_ID` names one, is the identity of the host's limits region (kept with
    /// it), which every worker maps: one host's budget contributions stay one entry in Redis, across restarts too.
    private static func fleet(
        environment: [String: String], integer: (String, Int) throws -> Int
    ) throws -> FleetLimitsSettings? {
        guard let text = environment["FOAP_LIMITS_REDIS_URL"], !text.isEmpty else {
            return nil
        }
        let url: RedisURL
        do {
            url = try RedisURL(text)
        } catch {
            throw SettingsError("FOAP_LIMITS_REDIS_URL: \(error)")
        }
        let modeText = environment["FOAP_LIMITS_ON_BACKEND_ERROR"].flatMap { $0.isEmpty ? nil : $0 } ?? "local"
        guard let mode = FleetLimitsSettings.Fallback(rawValue: modeText.lowercased()) else {
            throw SettingsError("FOAP_LIMITS_ON_BACKEND_ERROR=\(modeText) is not one of local, allow, deny")
        }
        let hostID = environment["FOAP_LIMITS_HOST_ID"] ?? ""
        var fleet = FleetLimitsSettings(
            url: url, timeout: .milliseconds(Int64(try integer("FOAP_LIMITS_REDIS_TIMEOUT_MS", 25))), fallback: mode,
            fleetSize: try integer("FOAP_FLEET_SIZE", 1), hostID: hostID)
        fleet.leaseTTL = .milliseconds(Int64(try integer("FOAP_LIMITS_LEASE_TTL_MS", 30_000)))
        return fleet
    }

    /// The values as environment variables, so workers started by the master resolve exactly the same settings.
    var environment: [String: String] {
        var environment = [
            "FOAP_CONFIG_DIR": self.configDirectory, "FOAP_HOST": self.host, "FOAP_PORT": String(self.port),
            "FOAP_WORKERS": String(self.workers), "FOAP_THREADS": String(self.threads),
            "FOAP_LOGLEVEL": self.logLevel.rawValue, "FOAP_LOG_FORMAT": self.logFormat.rawValue,
            "BASE_URL": self.baseURL, "FOAP_DRAIN_TIMEOUT": String(self.drainTimeout),
            "FOAP_KEEPALIVE_TIMEOUT": String(self.keepAliveTimeout), "FOAP_BODY_TIMEOUT": String(self.bodyTimeout),
            "FOAP_MAX_BODY_SIZE": String(self.maxBodySize),
            "FOAP_UPSTREAM_MAX_CONNECTIONS": String(self.upstreamMaxConnections),
            "FOAP_LIMITS_BYTES_PER_TOKEN": String(self.limits.bytesPerToken),
            "FOAP_LIMITS_DEFAULT_OUTPUT_TOKENS": String(self.limits.defaultOutputTokens),
        ]
        if let fleet = self.limits.fleet {
            environment["FOAP_LIMITS_REDIS_URL"] = self.redisURLText
            environment["FOAP_LIMITS_REDIS_TIMEOUT_MS"] = String(fleet.timeout.nanoseconds / 1_000_000)
            environment["FOAP_LIMITS_ON_BACKEND_ERROR"] = fleet.fallback.rawValue
            environment["FOAP_FLEET_SIZE"] = String(fleet.fleetSize)
            environment["FOAP_LIMITS_LEASE_TTL_MS"] = String(fleet.leaseTTL.nanoseconds / 1_000_000)
            if !fleet.hostID.isEmpty { environment["FOAP_LIMITS_HOST_ID"] = fleet.hostID }
        }
        if let stateDirectory { environment["FOAP_STATE_DIR"] = stateDirectory }
        // Workers must tag and verify ids with the master's secret, generated or not.
        environment["FOAP_ID_SECRET"] = self.idSecret
        if let caBundle { environment["FOAP_CA_BUNDLE"] = caBundle }
        return environment
    }

    var proxyConfiguration: ProxyConfiguration {
        var configuration = ProxyConfiguration()
        configuration.baseURL = self.baseURL
        configuration.maxBodySize = self.maxBodySize
        configuration.keepAliveTimeout = .milliseconds(Int64(self.keepAliveTimeout * 1000))
        configuration.bodyTimeout = .milliseconds(Int64(self.bodyTimeout * 1000))
        configuration.limits = self.limits
        configuration.idSecret = Array(self.idSecret.utf8)
        configuration.upstream.caBundlePath = self.caBundle
        configuration.upstream.maxConnectionsPerHost = self.upstreamMaxConnections
        return configuration
    }

    /// The proxy as these settings run it (a worker, or `serve --workers 0`).
    func runtime(
        snapshot: ConfigSnapshot, logger: Logger, accessLog: (any AccessLogWriter)?, limiter: RateLimiter? = nil
    ) -> ProxyRuntime {
        var runtime = ProxyRuntime(
            snapshot: snapshot,
            configuration: self.proxyConfiguration,
            threads: self.threads,
            drainTimeout: self.drainTimeout,
            logger: logger,
            accessLog: accessLog
        )
        runtime.limiter = limiter
        return runtime
    }
}

struct SettingsError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
