import FOAPConfig
import NIOCore
import NIOHTTP1

/// Pools: which upstream an attempt goes to, and whether a failed attempt may be tried on another one.
///
/// The rule: another upstream is tried only while no byte of an answer has reached the client, only for failures
/// that say the request was not (or need not be) served — connect refused or reset, TLS failure, timeout before
/// the response head, or status 408, 409, 429, 500, 502, 503, 504 — and never for a streamed upload, whose body is
/// already gone. Any other answer, 4xx included, passes through at once.
extension ProxyExchange {
    static let retryableStatuses: Set<UInt> = [408, 409, 429, 500, 502, 503, 504]
    /// The longest `retry-after` honoured; a longer one (or an HTTP date) skips the upstream this long.
    static let maximumRetryAfter: Int64 = 300
    static let defaultRetryAfter: Int64 = 1

    /// Starts forwarding: the first attempt, on `upstream` when the caller already picked it (a streamed upload,
    /// whose body names that upstream's model), else on the one the balancer picks.
    func forward(_ forwarding: Forwarding, startingWith upstream: Int? = nil) {
        self.isPooled = forwarding.isPooled
        self.forwarding = forwarding
        guard let upstream else {
            self.startNextAttempt()
            return
        }
        forwarding.started(upstream)
        self.sendAttempt(to: upstream)
    }

    /// Picks an untried upstream and sends the request there; with none (every upstream cooling down or
    /// rate-limited), answers 503 `no_healthy_upstream`.
    func startNextAttempt() {
        guard let forwarding = self.forwarding else { return }
        let model = forwarding.model
        guard
            let upstream = self.pickUpstream(model: model.id, endpoint: forwarding.endpoint, excluding: forwarding.tried)
        else {
            let route = forwarding.endpoint.path
            self.respondAfterBody(.noHealthyUpstream(model: model.id, route: route))
            return
        }
        forwarding.started(upstream)
        self.bufferedResponse = nil
        self.pendingHead = nil
        self.sendAttempt(to: upstream)
    }

    /// The upstream for the next attempt: the balancer's choice for a pool, else the only one (unless tried).
    func pickUpstream(model: String, endpoint: EndpointConfig, excluding tried: UpstreamSet) -> Int? {
        guard endpoint.upstreams.count > 1 else {
            return tried.contains(0) ? nil : 0
        }
        let now = NIODeadline.now()
        return self.fleet.withBalancer(model: model, endpoint: endpoint) { $0.pick(excluding: tried, now: now) }
    }

    /// The loop's balancers (a throwaway one for a loop outside the engine's group, as in some tests).
    var fleet: FleetState {
        self.engine.fleet(for: self.context.eventLoop) ?? FleetState()
    }

    /// The response head of the current attempt arrived. Tells the balancer what it says about the upstream, and
    /// gives the attempt up for another upstream when the status is worth a retry and one is left.
    /// - Returns: true when the attempt was given up (the head must not be relayed).
    func retryInsteadOfRelaying(_ head: HTTPResponseHead) -> Bool {
        guard let forwarding = self.forwarding, forwarding.isPooled, let upstream = forwarding.current else {
            return false
        }
        let status = head.status.code
        let now = NIODeadline.now()
        let model = forwarding.model.id
        let endpoint = forwarding.endpoint
        let retry = Self.retryableStatuses.contains(status) && forwarding.mayRetry && !self.responseHeadWritten
        let hasOther = self.fleet.withBalancer(model: model, endpoint: endpoint) { balancer -> Bool in
            if status == 429 {
                balancer.rateLimited(upstream, for: Self.retryAfter(head.headers), now: now)
            } else if status >= 500 {
                balancer.failed(upstream, now: now)
            } else {
                balancer.succeeded(upstream)
            }
            guard retry, balancer.hasCandidate(excluding: forwarding.tried, now: now) else {
                return false
            }
            balancer.finished(upstream)
            return true
        }
        guard hasOther else {
            return false
        }
        forwarding.recordFailure(upstream, "status_\(status)")
        _ = forwarding.ended()
        self.abandonCurrentCall()
        self.startNextAttempt()
        return true
    }

    /// The current attempt failed before or during its answer. Counts the failure against the upstream and, if
    /// nothing reached the client yet, tries another upstream.
    /// - Returns: true when another attempt was started.
    func retryAfterFailure(_ error: Error) -> Bool {
        guard !(error is ClientDisconnectedError || error is ClientStalledError) else {
            self.attemptEndedWithoutAnswer()
            return false
        }
        guard let forwarding = self.forwarding, let upstream = forwarding.ended(), forwarding.isPooled else {
            return false
        }
        let code =
            error is UpstreamKeyMissingError
            ? "upstream_key_missing"
            : UpstreamFailure.openAIError(
                for: error, upstream: forwarding.endpoint.upstreams[upstream].baseURL,
                timeout: forwarding.currentTimeout
            ).code
        forwarding.recordFailure(upstream, code)
        let now = NIODeadline.now()
        let mayRetry = !self.responseHeadWritten && forwarding.mayRetry
        let hasOther = self.fleet.withBalancer(model: forwarding.model.id, endpoint: forwarding.endpoint) { balancer in
            balancer.finished(upstream)
            balancer.failed(upstream, now: now)
            return mayRetry && balancer.hasCandidate(excluding: forwarding.tried, now: now)
        }
        guard hasOther else {
            return false
        }
        self.task = nil
        self.currentAttempt = nil
        self.startNextAttempt()
        return true
    }

    /// The attempt in flight ends with no verdict on its upstream (the client went away, the request could not be
    /// built): it is only no longer in flight, and a probe may be sent again.
    func attemptEndedWithoutAnswer() {
        guard let forwarding = self.forwarding, let upstream = forwarding.ended(), forwarding.isPooled else { return }
        self.fleet.withBalancer(model: forwarding.model.id, endpoint: forwarding.endpoint) { balancer in
            balancer.finished(upstream)
            balancer.abandoned(upstream)
        }
    }

    /// The current attempt's answer ended whole: a success for the balancer's in-flight count.
    func attemptCompleted() {
        guard self.isPooled, let forwarding = self.forwarding, let upstream = forwarding.ended() else { return }
        self.fleet.withBalancer(model: forwarding.model.id, endpoint: forwarding.endpoint) { $0.finished(upstream) }
    }

    /// Cancels the call of the current attempt without letting its callbacks through.
    private func abandonCurrentCall() {
        let task = self.task
        self.task = nil
        self.currentAttempt = nil
        task?.fail(reason: AttemptAbandonedError())
    }

    /// `retry-after` in seconds (RFC 9110 §10.2.3); an HTTP date or nonsense counts as `defaultRetryAfter`.
    static func retryAfter(_ headers: HTTPHeaders) -> TimeAmount {
        let seconds = headers.first(name: "retry-after").flatMap { Int64($0) }
        return .seconds(min(max(seconds ?? Self.defaultRetryAfter, 0), Self.maximumRetryAfter))
    }
}
