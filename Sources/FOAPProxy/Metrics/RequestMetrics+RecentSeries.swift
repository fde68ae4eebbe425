extension RequestMetrics {
    /// One route's series while consecutive requests count into it: comparing their keys with the last ones is
    /// cheaper than hashing them (a model, a route, an upstream URL and a status class: three dictionary lookups,
    /// ~1,800 instructions per request in bench/profile), and the same series is what nearly every next request
    /// counts into.
    struct RecentSeries {
        let route: RouteKey
        var stats: RouteStats
        /// Requests counted for `requestKey` and not yet added to `stats.requests`.
        var requestKey: UpstreamStatusKey?
        var requestCount: UInt64 = 0

        init(route: RouteKey, stats: RouteStats) {
            self.route = route
            self.stats = stats
        }

        mutating func countRequest(_ key: UpstreamStatusKey) {
            if key == self.requestKey {
                self.requestCount += 1
                return
            }
            self.flushRequests()
            self.requestKey = key
            self.requestCount = 1
        }

        mutating func flushRequests() {
            if let key = self.requestKey, self.requestCount > 0 {
                self.stats.requests[key, default: 0] += self.requestCount
            }
            self.requestKey = nil
            self.requestCount = 0
        }

        /// The stats with every request counted.
        func flushed() -> RouteStats {
            var copy = self
            copy.flushRequests()
            return copy.stats
        }
    }
}
