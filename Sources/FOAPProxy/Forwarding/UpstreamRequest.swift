import AsyncHTTPClient
import FOAPConfig
import NIOCore
import NIOHTTP1

/// A request on its way upstream, kept whole so that another upstream of the pool can be tried while no byte of
/// an answer has reached the client.
///
/// A class, loop-bound like its exchange: its configs would cost a dozen retains per copy of a struct, on every
/// request (bench/profile).
final class UpstreamRequest {
    /// What the upstream request carries.
    enum Payload {
        case none
        /// The client's JSON, before its `model` is rewritten: each upstream may call the model differently.
        case json(ByteBuffer, JSONBodyInspection)
        /// Streamed as the client sends it (multipart uploads), already rewritten for the upstream picked before
        /// the body was read: sent once, never replayed, so such a request makes a single attempt.
        case streamed(HTTPClient.Body, contentLength: Int?)
    }

    let model: ModelConfig
    let endpoint: EndpointConfig
    let method: HTTPMethod
    /// Appended to the upstream URL (the file id of `v1/images/data`), usually empty.
    let urlSuffix: String
    let payload: Payload
    /// Attempts this request may make (each on a different upstream).
    let maximumAttempts: Int
    /// It belongs to one upstream (an id that upstream made): it never fails over.
    let pinned: Bool
    private(set) var tried = UpstreamSet.empty
    private(set) var attempts = 0
    /// The upstream of the attempt in flight.
    private(set) var current: Int?
    /// The upstream of the latest attempt (the one whose answer is being relayed, even once it ended).
    private(set) var lastUpstream: Int?
    /// `http://a:8000 upstream_unreachable, http://b:8000 status_503`: for the access record.
    private(set) var failures: [String] = []

    /// - Parameter pinned: the request belongs to one upstream (an id it made): one attempt, no failover.
    init(
        model: ModelConfig, endpoint: EndpointConfig, method: HTTPMethod, urlSuffix: String = "", payload: Payload,
        pinned: Bool = false
    ) {
        self.pinned = pinned
        self.model = model
        self.endpoint = endpoint
        self.method = method
        self.urlSuffix = urlSuffix
        self.payload = payload
        if case .streamed = payload {
            self.maximumAttempts = 1
        } else if pinned {
            self.maximumAttempts = 1
        } else {
            self.maximumAttempts = endpoint.policy.maximumAttempts(upstreamCount: endpoint.upstreams.count)
        }
    }

    /// More than one upstream: the balancer decides, and passive health applies. A single upstream is always
    /// tried (as nginx does for a one-server group): cooling it down would only turn its errors into 503s.
    var isPooled: Bool { self.endpoint.upstreams.count > 1 }

    var mayRetry: Bool { self.attempts < self.maximumAttempts }

    func started(_ upstream: Int) {
        self.tried.insert(upstream)
        self.attempts += 1
        self.current = upstream
        self.lastUpstream = upstream
    }

    /// The timeouts of an attempt of this request, for the exchange's state machine.
    var attemptTimeouts: ExchangeStateMachine.AttemptTimeouts {
        ExchangeStateMachine.AttemptTimeouts(
            silence: .nanoseconds(Int64(self.endpoint.requestTimeout * 1_000_000_000)),
            firstByte: self.endpoint.policy.firstByteTimeout.map { .nanoseconds(Int64($0 * 1_000_000_000)) }
        )
    }

    /// The attempt in flight ended; returns its upstream.
    func ended() -> Int? {
        defer { self.current = nil }
        return self.current
    }

    func recordFailure(_ upstream: Int, _ kind: String) {
        // Moved out to grow and back: no call inside an access to the property (see `ProxyExchange.noteAttemptError`).
        let entry = self.endpoint.upstreams[upstream].baseURL + " " + kind
        var failures: [String] = []
        swap(&failures, &self.failures)
        failures.append(entry)
        swap(&failures, &self.failures)
    }
}

@available(*, unavailable)
extension UpstreamRequest: Sendable {}
