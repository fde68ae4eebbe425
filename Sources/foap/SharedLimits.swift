import FOAPConfig
import FOAPLimits
import FOAPProxy
import Logging

/// The per-key limits' shared region as `foap serve` sets it up: the master (or the single process) creates or
/// reopens it under the state directory and keeps it for life; every worker maps the descriptor it inherits and
/// builds its `RateLimiter` from its generation's snapshot.
enum SharedLimits {
    /// Master side. Budgets survive a restart when `stateDirectory` is set; without one the region lives in memory
    /// for the master's life (reloads keep it; a restart starts from zero).
    static func openRegion(_ settings: Settings, logger: Logger) throws -> LimitsRegion {
        let region = try LimitsRegion(stateDirectory: settings.stateDirectory, now: LimitsClock.now())
        var metadata: Logger.Metadata = [
            "state_dir": .string(settings.stateDirectory ?? "-"), "opening": .string("\(region.opening)"),
        ]
        metadata["capacity"] = .stringConvertible(region.capacity)
        if case .reset(let reason) = region.opening {
            logger.warning("limits state reset", metadata: metadata.merging(["reason": .string(reason)]) { $1 })
        } else {
            logger.info("limits state ready", metadata: metadata)
        }
        return region
    }

    /// The limiter of a process serving `snapshot` with holder id `holder`; nil when no key has limits.
    /// - Throws: when the region cannot hold the scopes (a worker must not run unlimited by accident).
    static func limiter(region: LimitsRegion, holder: Int, snapshot: ConfigSnapshot) throws -> RateLimiter? {
        guard let keys = snapshot.clientKeys, keys.keys.contains(where: { $0.limits != nil }) else {
            return nil
        }
        return try RateLimiter(region: region, holder: holder, keys: keys)
    }
}
