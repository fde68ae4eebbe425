import FOAPMetrics
import NIOConcurrencyHelpers
import NIOCore

/// This worker's request counters, histograms and gauges, cumulative since it started, rendered in the Prometheus
/// text format for the master to add up (`MetricsReport`). Every access record feeds it once.
///
/// One lock per request: a worker usually runs one event loop, so it is never contended; with several loops the
/// critical section is a few dictionary updates. Label values come from the config (model ids, upstream URLs,
/// client key names) and a closed set of routes and status classes, so cardinality is bounded by the config.
public final class RequestMetrics: Sendable {
    /// Request duration and time-to-first-byte buckets, in seconds (LLM calls run from milliseconds to minutes).
    static let buckets: [Double] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300]

    struct RequestKey: Hashable {
        var model: String
        var route: String
        var upstream: String
        var statusClass: String
    }

    struct RouteKey: Hashable {
        var model: String
        var route: String
    }

    struct UpstreamErrorKey: Hashable {
        var upstream: String
        var kind: String
    }

    struct TokenKey: Hashable {
        var model: String
        var keyName: String
    }

    struct TokenCounts {
        var prompt: UInt64 = 0
        var completion: UInt64 = 0
    }

    struct Histogram {
        /// Upper bounds in seconds, ascending.
        let bounds: [Double]
        var counts: [UInt64]
        /// Whole nanoseconds, not a sum of doubles: exact, and what the master adds up (as billionths) loses nothing.
        var sumNanoseconds: UInt64 = 0
        var count: UInt64 = 0

        /// The sum in seconds as it is reported (the wire format stays a decimal number of seconds).
        var sum: Double { Double(self.sumNanoseconds) / 1e9 }

        init(bounds: [Double] = RequestMetrics.buckets) {
            self.bounds = bounds
            self.counts = [UInt64](repeating: 0, count: bounds.count)
        }

        mutating func observe(nanoseconds: Int64) {
            let nanoseconds = UInt64(max(0, nanoseconds))
            let seconds = Double(nanoseconds) / 1e9
            var index = 0
            let buckets = self.bounds
            while index < buckets.count, seconds > buckets[index] {
                index += 1
            }
            if index < buckets.count {
                self.counts[index] += 1
            }
            self.sumNanoseconds &+= nanoseconds
            self.count += 1
        }
    }

    /// Where a request went and how it ended, within its model and route.
    struct UpstreamStatusKey: Hashable {
        var upstream: String
        var statusClass: String
    }

    /// Everything counted per model and route, in one dictionary value: one lookup per request (the requests by
    /// upstream and status class nested, so the model and route are not hashed a second time).
    struct RouteStats {
        var duration = Histogram()
        var firstByte = Histogram()
        var bytesIn: UInt64 = 0
        var bytesOut: UInt64 = 0
        var requests: [UpstreamStatusKey: UInt64] = [:]
    }

    struct State {
        var routes: [RouteKey: RouteStats] = [:]
        var upstreamErrors: [UpstreamErrorKey: UInt64] = [:]
        var tokens: [TokenKey: TokenCounts] = [:]
        /// Admissions of keys with limits, by key name, limit type (`all` when admitted) and result.
        var rateLimitDecisions: [RateLimitDecisionKey: UInt64] = [:]
        /// Tokens of keys with limits, by key name and stage (`reserved`, `refunded`, `charged`).
        var rateLimitTokens: [RateLimitTokenKey: UInt64] = [:]
        /// The fleet limits backend (Redis): calls by result, latency, fallbacks by mode.
        var limitsBackend = LimitsBackendStats()
        /// Failed `accept` calls on the listeners, by errno name (`EMFILE`, …).
        var acceptErrors: [String: UInt64] = [:]
        var inFlight = 0
        /// WebSocket tunnels open now, and the bytes they carried each way.
        var webSocketsOpen = 0
        var webSocketBytesFromClient: UInt64 = 0
        var webSocketBytesFromUpstream: UInt64 = 0
        /// Something changed since the last `render`.
        var changed = true
        /// The series the last finished requests counted into, held out of `routes` and `tokens` until a request
        /// counts into others or `render` reads them (`flushRecent`).
        var recent: RecentSeries?
        var recentTokens: (key: TokenKey, counts: TokenCounts)?

        /// Puts the recent series back where `render` reads them.
        mutating func flushRecent() {
            if let recent = self.recent.take() {
                self.routes[recent.route] = recent.flushed()
            }
            if let tokens = self.recentTokens.take() {
                self.tokens[tokens.key] = tokens.counts
            }
        }
    }

    private let state = NIOLockedValueBox(State())

    public init() {}

    /// An admission of a key with limits: admitted (reserving `reservedTokens`) or refused by `limitType`.
    func rateLimitDecided(keyName: String, refusedBy limitType: String?, reservedTokens: Int) {
        self.state.withLockedValue {
            let key = RateLimitDecisionKey(keyName: keyName, limitType: limitType ?? "all", admitted: limitType == nil)
            $0.rateLimitDecisions[key, default: 0] += 1
            if reservedTokens > 0 {
                $0.rateLimitTokens[RateLimitTokenKey(keyName: keyName, stage: "reserved"), default: 0] +=
                    UInt64(reservedTokens)
            }
            $0.changed = true
        }
    }

    func limitsBackendRequest(result: String) {
        self.state.withLockedValue {
            $0.limitsBackend.requests[result, default: 0] += 1
            $0.changed = true
        }
    }

    func limitsBackendFallback(mode: String) {
        self.state.withLockedValue {
            $0.limitsBackend.fallbacks[mode, default: 0] += 1
            $0.changed = true
        }
    }

    /// How long the backend took to answer one admission.
    func limitsBackendAnswered(after nanoseconds: Int64) {
        self.state.withLockedValue {
            $0.limitsBackend.latency.observe(nanoseconds: nanoseconds)
            $0.changed = true
        }
    }

    func rateLimitTokens(keyName: String, stage: String, count: Int) {
        guard count > 0 else { return }
        self.state.withLockedValue {
            $0.rateLimitTokens[RateLimitTokenKey(keyName: keyName, stage: stage), default: 0] += UInt64(count)
            $0.changed = true
        }
    }

    /// A listener's `accept` failed (out of file descriptors, memory, …); the listener backs off.
    func acceptFailed(reason: String) {
        self.state.withLockedValue {
            $0.acceptErrors[reason, default: 0] += 1
            $0.changed = true
        }
    }

    func webSocketOpened() {
        self.state.withLockedValue {
            $0.webSocketsOpen += 1
            $0.changed = true
        }
    }

    func webSocketClosed() {
        self.state.withLockedValue {
            $0.webSocketsOpen -= 1
            $0.changed = true
        }
    }

    /// Bytes a tunnel read in one burst, from the client or from the upstream.
    func webSocketBytes(_ count: Int, fromClient: Bool) {
        self.state.withLockedValue {
            if fromClient {
                $0.webSocketBytesFromClient += UInt64(count)
            } else {
                $0.webSocketBytesFromUpstream += UInt64(count)
            }
            $0.changed = true
        }
    }

    func requestStarted() {
        self.state.withLockedValue {
            $0.inFlight += 1
            $0.changed = true
        }
    }

    /// Counts one finished request (its access record): two dictionary updates in the common case.
    /// - Parameter modelIsConfigured: whether `record.model` is a configured model. Any other id a client sends is
    ///   counted as `-`: one series per made-up model name would let any client grow every worker's memory and
    ///   every scrape without bound.
    func requestFinished(_ record: AccessRecord, modelIsConfigured: Bool) {
        let model = modelIsConfigured ? record.model ?? "-" : "-"
        let routeKey = RouteKey(model: model, route: record.route)
        let requestKey = UpstreamStatusKey(
            upstream: record.upstream ?? "-", statusClass: Self.statusClass(record.status))
        let duration = record.duration.nanoseconds
        let firstByte = record.timeToFirstByte?.nanoseconds
        let errors = record.attemptErrors.isEmpty && record.error == nil ? [] : Self.upstreamErrors(record)
        let bytesIn = UInt64(record.bytesIn)
        let bytesOut = UInt64(record.bytesOut)
        let hasTokens = record.promptTokens != nil || record.completionTokens != nil
        self.state.withLockedValue { state in
            state.inFlight -= 1
            state.changed = true
            if state.recent?.route != routeKey {
                state.flushRecent()
                let stats = state.routes.removeValue(forKey: routeKey) ?? RouteStats()
                state.recent = RecentSeries(route: routeKey, stats: stats)
            }
            state.recent!.countRequest(requestKey)
            Self.add(to: &state.recent!.stats, duration, firstByte, bytesIn, bytesOut)
            for error in errors {
                state.upstreamErrors[error, default: 0] += 1
            }
            if hasTokens {
                let key = TokenKey(model: model, keyName: record.keyName ?? "-")
                if state.recentTokens?.key != key {
                    if let previous = state.recentTokens.take() {
                        state.tokens[previous.key] = previous.counts
                    }
                    state.recentTokens = (key, state.tokens.removeValue(forKey: key) ?? TokenCounts())
                }
                Self.add(
                    to: &state.recentTokens!.counts,
                    prompt: UInt64(record.promptTokens ?? 0), completion: UInt64(record.completionTokens ?? 0)
                )
            }
        }
    }

    private static func add(to counts: inout TokenCounts, prompt: UInt64, completion: UInt64) {
        counts.prompt += prompt
        counts.completion += completion
    }

    private static func add(
        to stats: inout RouteStats, _ duration: Int64, _ firstByte: Int64?, _ bytesIn: UInt64, _ bytesOut: UInt64
    ) {
        stats.duration.observe(nanoseconds: duration)
        if let firstByte {
            stats.firstByte.observe(nanoseconds: firstByte)
        }
        stats.bytesIn += bytesIn
        stats.bytesOut += bytesOut
    }

    static func statusClass(_ status: UInt) -> String {
        switch status {
        case 100..<200: "1xx"
        case 200..<300: "2xx"
        case 300..<400: "3xx"
        case 400..<500: "4xx"
        case 500..<600: "5xx"
        default: "none"
        }
    }

    /// The failed upstream attempts of a request, by kind: `refused` (connect or TLS), `timeout`, `reset` (closed
    /// or cut), `status` (a retryable status from a pool), `key_missing`.
    static func upstreamErrors(_ record: AccessRecord) -> [UpstreamErrorKey] {
        var errors: [UpstreamErrorKey] = record.attemptErrors.compactMap { entry in
            guard let space = entry.lastIndex(of: " ") else { return nil }
            let upstream = String(entry[..<space])
            return Self.errorKind(String(entry[entry.index(after: space)...])).map {
                UpstreamErrorKey(upstream: upstream, kind: $0)
            }
        }
        // The last attempt's failure is the record's own error (a pool lists only the ones it moved on from).
        if let error = record.error, let kind = Self.errorKind(error), let upstream = record.upstream {
            errors.append(UpstreamErrorKey(upstream: upstream, kind: kind))
        }
        return errors
    }

    static func errorKind(_ code: String) -> String? {
        switch code {
        case "upstream_unreachable": "refused"
        case "upstream_timeout", "stream_timeout": "timeout"
        case "upstream_error", "stream_cut": "reset"
        case "upstream_key_missing": "key_missing"
        default: code.hasPrefix("status_") ? "status" : nil
        }
    }

    // MARK: Rendering

    /// Every series in the Prometheus text format, families with `# HELP` and `# TYPE`; nil when nothing changed
    /// since the last call with `onlyIfChanged`.
    public func render(onlyIfChanged: Bool = false) -> String? {
        let state: State? = self.state.withLockedValue { state in
            guard !onlyIfChanged || state.changed else { return nil }
            state.changed = false
            state.flushRecent()
            return state
        }
        guard let state else { return nil }
        var text = MetricsText()
        let routeOrder = state.routes.keys.sorted { ($0.model, $0.route) < ($1.model, $1.route) }
        text.family("foap_requests_total", "counter", "Requests answered, by model, route, upstream and status class.")
        var requests: [RequestKey: UInt64] = [:]
        for (route, stats) in state.routes {
            for (request, count) in stats.requests {
                let key = RequestKey(
                    model: route.model, route: route.route, upstream: request.upstream,
                    statusClass: request.statusClass)
                requests[key] = count
            }
        }
        let requestOrder = requests.keys.sorted {
            ($0.model, $0.route, $0.upstream, $0.statusClass) < ($1.model, $1.route, $1.upstream, $1.statusClass)
        }
        for key in requestOrder {
            text.sample(
                "foap_requests_total",
                [
                    ("gen_ai_request_model", key.model), ("http_route", key.route), ("server_address", key.upstream),
                    ("status_class", key.statusClass),
                ],
                Double(requests[key] ?? 0)
            )
        }
        Self.histogram(&text, "foap_request_duration_seconds", "Time from the request to the end of its answer.",
                       state.routes.mapValues(\.duration), order: routeOrder)
        Self.histogram(&text, "foap_time_to_first_byte_seconds", "Time from the request to the upstream's response head.",
                       state.routes.mapValues(\.firstByte).filter { $0.value.count > 0 }, order: routeOrder)
        text.family("foap_request_bytes_total", "counter", "Request body bytes received from clients.")
        for key in routeOrder {
            text.sample("foap_request_bytes_total", Self.labels(key), Double(state.routes[key]?.bytesIn ?? 0))
        }
        text.family("foap_response_bytes_total", "counter", "Response body bytes sent to clients.")
        for key in routeOrder {
            text.sample("foap_response_bytes_total", Self.labels(key), Double(state.routes[key]?.bytesOut ?? 0))
        }
        text.family("foap_upstream_errors_total", "counter", "Failed upstream attempts, by upstream and kind.")
        for (key, value) in state.upstreamErrors.sorted(by: { ($0.key.upstream, $0.key.kind) < ($1.key.upstream, $1.key.kind) }) {
            text.sample("foap_upstream_errors_total", [("server_address", key.upstream), ("error_type", key.kind)], Double(value))
        }
        text.family("foap_tokens_total", "counter", "Tokens reported in answers' usage, by model, client key and type.")
        for (key, counts) in state.tokens.sorted(by: { ($0.key.model, $0.key.keyName) < ($1.key.model, $1.key.keyName) }) {
            for (type, value) in [("prompt", counts.prompt), ("completion", counts.completion), ("total", counts.prompt + counts.completion)] {
                text.sample(
                    "foap_tokens_total",
                    [("gen_ai_request_model", key.model), ("key_name", key.keyName), ("gen_ai_token_type", type)],
                    Double(value)
                )
            }
        }
        text.family(
            "foap_ratelimit_decisions_total", "counter",
            "Admissions of keys with limits, by key, the limit type that refused (all when admitted) and result.")
        let decisions = state.rateLimitDecisions.sorted {
            ($0.key.keyName, $0.key.limitType, $0.key.admitted ? 0 : 1) < ($1.key.keyName, $1.key.limitType, $1.key.admitted ? 0 : 1)
        }
        for (key, value) in decisions {
            text.sample(
                "foap_ratelimit_decisions_total",
                [("key_name", key.keyName), ("limit_type", key.limitType), ("result", key.admitted ? "admitted" : "refused")],
                Double(value))
        }
        text.family(
            "foap_ratelimit_tokens_total", "counter",
            "Tokens of keys with limits: reserved at admission, then refunded or charged when the answer's usage is known.")
        for (key, value) in state.rateLimitTokens.sorted(by: { ($0.key.keyName, $0.key.stage) < ($1.key.keyName, $1.key.stage) }) {
            text.sample("foap_ratelimit_tokens_total", [("key_name", key.keyName), ("stage", key.stage)], Double(value))
        }
        state.limitsBackend.render(into: &text)
        text.family("foap_accept_errors_total", "counter", "Failed accepts of new connections, by error.")
        for (reason, value) in state.acceptErrors.sorted(by: { $0.key < $1.key }) {
            text.sample("foap_accept_errors_total", [("error_type", reason)], Double(value))
        }
        text.family("foap_requests_in_flight", "gauge", "Requests being answered now.")
        text.sample("foap_requests_in_flight", [], Double(max(0, state.inFlight)))
        text.family("foap_websockets_open", "gauge", "WebSocket tunnels open now (each is also a request in flight).")
        text.sample("foap_websockets_open", [], Double(max(0, state.webSocketsOpen)))
        text.family("foap_websocket_bytes_total", "counter", "Bytes carried by WebSocket tunnels, by direction.")
        text.sample("foap_websocket_bytes_total", [("direction", "client_to_upstream")], Double(state.webSocketBytesFromClient))
        text.sample("foap_websocket_bytes_total", [("direction", "upstream_to_client")], Double(state.webSocketBytesFromUpstream))
        return text.output
    }

    private static func labels(_ key: RouteKey) -> [(String, String)] {
        [("gen_ai_request_model", key.model), ("http_route", key.route)]
    }

    private static func histogram(
        _ text: inout MetricsText, _ name: String, _ help: String, _ values: [RouteKey: Histogram], order: [RouteKey]
    ) {
        Self.histogram(&text, name, help, order.compactMap { key in values[key].map { (Self.labels(key), $0) } })
    }

    /// One histogram family: per label set, its cumulative buckets, `+Inf`, `_sum` and `_count`.
    static func histogram(
        _ text: inout MetricsText, _ name: String, _ help: String, _ series: [([(String, String)], Histogram)]
    ) {
        text.family(name, "histogram", help)
        for (labels, histogram) in series {
            var cumulative: UInt64 = 0
            for (index, bound) in histogram.bounds.enumerated() {
                cumulative += histogram.counts[index]
                text.sample(name + "_bucket", labels + [("le", MetricsText.number(bound))], Double(cumulative))
            }
            text.sample(name + "_bucket", labels + [("le", "+Inf")], Double(histogram.count))
            text.sample(name + "_sum", labels, histogram.sum)
            text.sample(name + "_count", labels, Double(histogram.count))
        }
    }
}

struct RateLimitDecisionKey: Hashable {
    var keyName: String
    var limitType: String
    var admitted: Bool
}

struct RateLimitTokenKey: Hashable {
    var keyName: String
    var stage: String
}
