import FOAPConfig
import FOAPLimits
import FOAPMetrics
import FOAPProxy
import Foundation
import Logging
import NIOConcurrencyHelpers

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
    /// With a fleet backend (`fleet`), this is its `local` fallback: this host's share of every limit.
    static func limiter(
        region: LimitsRegion, holder: Int, snapshot: ConfigSnapshot, fleet: FleetLimitsSettings? = nil
    ) throws -> RateLimiter? {
        guard let keys = snapshot.clientKeys, keys.keys.contains(where: { $0.limits != nil }) else {
            return nil
        }
        let share = fleet.map { FleetShare.keys(keys, fleetSize: $0.fleetSize) } ?? keys
        return try RateLimiter(region: region, holder: holder, keys: share)
    }

    /// `foap ctl limits` in the master: every limit of every limited key of the config loaded last, with what is
    /// used, what remains and when it resets, read from the live region (the master never admits anything itself).
    final class Report: Sendable {
        private let region: LimitsRegion
        private let state = NIOLockedValueBox<ClientKeys?>(nil)

        init(region: LimitsRegion) {
            self.region = region
        }

        var keys: ClientKeys? {
            get { self.state.withLockedValue { $0 } }
            set { self.state.withLockedValue { $0 = newValue } }
        }

        /// The usage of every limited scope now; empty when no key has limits.
        private func usage() -> [ScopeUsage] {
            guard let keys = self.keys, keys.keys.contains(where: { $0.limits != nil }),
                let limiter = try? RateLimiter(region: self.region, holder: 0, keys: keys)
            else { return [] }
            return limiter.usage(now: LimitsClock.now())
        }

        /// `foap_ratelimit_in_flight{scope}` and `foap_ratelimit_budget_used_tokens{scope,limit}`.
        func metricsText() -> String {
            let usage = self.usage()
            guard !usage.isEmpty else { return "" }
            var text = MetricsText()
            text.family("foap_ratelimit_in_flight", "gauge", "Requests in flight per limited scope, over every worker.")
            for scope in usage {
                for limit in scope.limits where limit.kind == .concurrency {
                    text.sample("foap_ratelimit_in_flight", [("scope", "\(scope.scope)")], Double(limit.used))
                }
            }
            text.family(
                "foap_ratelimit_budget_used_tokens", "gauge", "Tokens used of each budget in its current period.")
            for scope in usage {
                for limit in scope.limits where limit.kind == .budget {
                    text.sample(
                        "foap_ratelimit_budget_used_tokens", [("scope", "\(scope.scope)"), ("limit", limit.label)],
                        Double(limit.used))
                }
            }
            return text.output
        }

        func lines() -> [String] {
            self.usage().flatMap { scope in
                scope.limits.map { limit in
                    var line = "\(scope.scope): \(limit.label): used \(limit.used) of \(limit.limit), "
                        + "remaining \(limit.remaining)"
                    if let resetsAt = limit.resetsAt {
                        let date = Date(timeIntervalSince1970: TimeInterval(resetsAt))
                        line += ", resets at " + ISO8601DateFormatter().string(from: date)
                    } else if limit.resetAfter > .zero {
                        line += ", full again in " + RateLimitHeaders.reset(limit.resetAfter)
                    }
                    return line
                }
            }
        }
    }
}
