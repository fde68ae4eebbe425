import FOAPConfig
import NIOCore
import NIOHTTP1

/// Pools: which upstream an attempt goes to, and whether a failed attempt may be tried on another one (the rule is
/// `RetryPolicy`'s; whether nothing reached the client yet is the machine's).
extension ProxyExchange {
    /// Starts forwarding: the first attempt, on `upstream` when the caller already picked it (a streamed upload,
    /// whose body names that upstream's model), else on the one the balancer picks.
    func forward(_ request: UpstreamRequest, startingWith upstream: Int? = nil) {
        self.upstreamRequest = request
        guard let upstream else {
            self.startNextAttempt()
            return
        }
        request.started(upstream)
        self.sendAttempt(to: upstream)
    }

    /// Picks an untried upstream and sends the request there; with none (every upstream cooling down or
    /// rate-limited), answers 503 `no_healthy_upstream`.
    func startNextAttempt() {
        guard let request = self.upstreamRequest else { return }
        let model = request.model
        guard let upstream = self.pickUpstream(model: model.id, endpoint: request.endpoint, excluding: request.tried)
        else {
            self.refuse(.noHealthyUpstream(model: model.id, route: request.endpoint.path))
            return
        }
        request.started(upstream)
        self.sendAttempt(to: upstream)
    }

    /// The upstream for the next attempt: the balancer's choice for a pool, else the only one (unless tried).
    func pickUpstream(model: String, endpoint: EndpointConfig, excluding tried: UpstreamSet) -> Int? {
        guard endpoint.upstreams.count > 1 else {
            return tried.contains(0) ? nil : 0
        }
        let now = NIODeadline.now()
        return self.balancers.withBalancer(model: model, endpoint: endpoint) { $0.pick(excluding: tried, now: now) }
    }

    /// The loop's balancers (a throwaway set for a loop outside the engine's group, as in some tests).
    var balancers: LoopBalancers {
        self.engine.balancers(for: self.context.eventLoop) ?? LoopBalancers()
    }

    /// The response head of a pooled attempt arrived. Tells the balancer what it says about the upstream, and gives
    /// the attempt up for another upstream when the status is worth a retry and one is left.
    /// - Returns: true when the attempt was given up (the head must not be relayed).
    func retryInsteadOfRelaying(_ head: ClientResponseHead, attempt: ExchangeStateMachine.AttemptID) -> Bool {
        guard let request = self.upstreamRequest, let upstream = request.current else { return false }
        let status = head.status.code
        let now = NIODeadline.now()
        let retry = RetryPolicy.retryableStatuses.contains(status) && request.mayRetry
            && self.machine.mayGiveUp(attempt)
        let hasOther = self.balancers.withBalancer(model: request.model.id, endpoint: request.endpoint) {
            balancer -> Bool in
            if status == 429 {
                balancer.rateLimited(upstream, for: RetryPolicy.retryAfter(head.first(name: "retry-after")), now: now)
            } else if status >= 500 {
                balancer.failed(upstream, now: now)
            } else {
                balancer.succeeded(upstream)
            }
            guard retry, balancer.hasCandidate(excluding: request.tried, now: now) else {
                return false
            }
            balancer.finished(upstream)
            return true
        }
        guard hasOther else {
            return false
        }
        request.recordFailure(upstream, "status_\(status)")
        _ = request.ended()
        self.machine.attemptGivenUp(attempt)
        self.detachCall()?.fail(reason: AttemptAbandonedError())
        self.startNextAttempt()
        return true
    }

    /// The current attempt failed before any byte of its answer reached the client. Counts the failure against
    /// the upstream and, for a pool, tries another upstream.
    /// - Returns: true when another attempt was started.
    func retryAfterFailure(_ error: Error) -> Bool {
        guard !(error is ClientDisconnectedError || error is ClientStalledError || error is AttemptAbandonedError)
        else {
            self.attemptEndedWithoutAnswer()
            return false
        }
        guard let request = self.upstreamRequest, let upstream = request.ended(), request.isPooled else {
            return false
        }
        let code =
            error is UpstreamKeyMissingError
            ? "upstream_key_missing"
            : UpstreamFailure.openAIError(
                for: error, model: request.model.id,
                timeout: Double(self.machine.currentTimeout.nanoseconds) / 1_000_000_000
            ).code.rawValue
        request.recordFailure(upstream, code)
        let now = NIODeadline.now()
        let mayRetry = !self.machine.answerStarted && request.mayRetry
        let hasOther = self.balancers.withBalancer(model: request.model.id, endpoint: request.endpoint) { balancer in
            balancer.finished(upstream)
            balancer.failed(upstream, now: now)
            return mayRetry && balancer.hasCandidate(excluding: request.tried, now: now)
        }
        guard hasOther else {
            return false
        }
        self.startNextAttempt()
        return true
    }

    /// The attempt in flight ends with no verdict on its upstream (the client went away, the request could not be
    /// built): it is only no longer in flight, and a probe may be sent again.
    func attemptEndedWithoutAnswer() {
        guard let request = self.upstreamRequest, let upstream = request.ended(), request.isPooled else { return }
        self.balancers.withBalancer(model: request.model.id, endpoint: request.endpoint) { balancer in
            balancer.finished(upstream)
            balancer.abandoned(upstream)
        }
    }

    /// The current attempt's answer ended whole: a success for the balancer's in-flight count.
    func attemptCompleted() {
        guard let request = self.upstreamRequest, request.isPooled, let upstream = request.ended() else { return }
        self.balancers.withBalancer(model: request.model.id, endpoint: request.endpoint) { $0.finished(upstream) }
    }
}
