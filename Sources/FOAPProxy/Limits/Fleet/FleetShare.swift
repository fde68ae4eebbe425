import FOAPConfig

/// One host's share of every limit, for the `local` fallback: a fleet of N hosts that all fall back at once
/// still admits no more than the limits together.
public enum FleetShare {
    /// `keys` with every number divided by `fleetSize`, rounded up, at least 1 (a limit never becomes 0).
    public static func keys(_ keys: ClientKeys, fleetSize: Int) -> ClientKeys {
        guard fleetSize > 1 else {
            return keys
        }
        let divide = { (value: Int) in max(1, (value + fleetSize - 1) / fleetSize) }
        func share(_ set: LimitSet) -> LimitSet {
            LimitSet(
                rates: set.rates.map {
                    RateLimit(metric: $0.metric, period: $0.period, limit: divide($0.limit), burst: divide($0.burst))
                },
                budgets: set.budgets.map { BudgetLimit(period: $0.period, tokens: divide($0.tokens)) },
                concurrentRequests: set.concurrentRequests.map(divide)
            )
        }
        let members = keys.keys.map { key in
            ClientKey(
                name: key.name, digest: key.digest, models: key.models, expires: key.expires.flatMap(ExpiryDate.init),
                limits: key.limits.map { limits in
                    KeyLimits(
                        tier: limits.tier, group: limits.group, key: share(limits.key),
                        models: limits.models.map { ModelLimits(pattern: $0.pattern, limits: share($0.limits)) })
                })
        }
        return ClientKeys(
            file: keys.file, keys: members, groups: keys.groups.map { LimitGroup(name: $0.name, limits: share($0.limits)) })
    }
}
