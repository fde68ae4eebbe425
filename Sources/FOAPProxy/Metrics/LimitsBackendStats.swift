import FOAPMetrics

/// The fleet limits backend (Redis/Valkey) as this worker saw it: calls by result, how long Redis took to answer an
/// admission, and admissions the fallback decided. Part of ``RequestMetrics``'s state (one lock for everything).
struct LimitsBackendStats {
    /// Redis answers in well under a millisecond on a LAN; the timeout is 25 ms by default.
    static let latencyBuckets: [Double] = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1]

    /// By result: ok, error, timeout, circuit_open.
    var requests: [String: UInt64] = [:]
    /// By mode: local, allow, deny.
    var fallbacks: [String: UInt64] = [:]
    /// Every admission Redis answered, late answers included: what Redis really took (failures are in `requests`).
    var latency = RequestMetrics.Histogram(bounds: Self.latencyBuckets)

    var isEmpty: Bool {
        self.requests.isEmpty && self.fallbacks.isEmpty && self.latency.count == 0
    }

    func render(into text: inout MetricsText) {
        guard !self.isEmpty else { return }
        text.family(
            "foap_limits_backend_requests_total", "counter",
            "Calls to the fleet limits backend (Redis/Valkey), by result (ok, error, timeout, circuit_open).")
        for (result, value) in self.requests.sorted(by: { $0.key < $1.key }) {
            text.sample("foap_limits_backend_requests_total", [("result", result)], Double(value))
        }
        text.family(
            "foap_limits_backend_fallbacks_total", "counter",
            "Admissions decided without the limits backend, by fallback mode (local, allow, deny).")
        for (mode, value) in self.fallbacks.sorted(by: { $0.key < $1.key }) {
            text.sample("foap_limits_backend_fallbacks_total", [("mode", mode)], Double(value))
        }
        RequestMetrics.histogram(
            &text, "foap_limits_backend_latency_seconds",
            "Time the limits backend took to answer an admission (answers after the timeout included).",
            [([], self.latency)])
    }
}
