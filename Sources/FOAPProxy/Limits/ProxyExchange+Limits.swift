import FOAPLimits
import NIOCore
import NIOHTTP1

/// Per-key limits in the request path: one admission per client request, after its model is known and before
/// its first upstream attempt (never per attempt); tokens reserved then and settled once when the exchange
/// finishes; the concurrency slot given back on every exit path (finish, and the ticket's own release if the
/// exchange is dropped).
///
/// With a fleet backend (Redis/Valkey) the decision is asynchronous: the exchange waits on its own loop, and
/// `proceed` runs only once the request is admitted (by Redis, or by the fallback while Redis cannot answer).
extension ProxyExchange {
    /// Admits the request under its key's limits, then calls `proceed` (at once when no limit applies or the
    /// limits are local). A refusal is answered here (429, or the `deny` fallback's 503) and took nothing.
    /// - Parameters:
    ///   - body: the JSON body, for its output bounds (nil for uploads and image data).
    ///   - bodyBytes: the body's size, for the prompt estimate.
    func admit(model: String, body: ByteBuffer?, bodyBytes: Int, then proceed: @escaping () -> Void) {
        let fleet = self.engine.fleet
        guard self.needsAdmission, let keyName = self.record.keyName else {
            proceed()
            return
        }
        let estimate = TokenEstimate.of(
            promptBytes: bodyBytes, fields: body.map(JSONModelScanner.outputTokenFields),
            generatesText: self.traits.generatesText, settings: self.engine.configuration.limits)
        self.record.tokensEstimated = estimate.total
        let request = AdmissionRequest(
            key: keyName, model: model, estimatedTokens: estimate.total, declaredOutputTokens: estimate.declaredOutput)
        guard let fleet else {
            self.admitLocally(request, then: proceed)
            return
        }
        let eventLoop = self.context.eventLoop
        fleet.admit(request, on: eventLoop).assumeIsolated().whenSuccess { decision in
            guard !self.finished, !self.machine.isFinished else {
                // The client left while Redis decided: give back what it took.
                if case .admitted(let grant) = decision {
                    fleet.settle(grant, actualTokens: nil, on: eventLoop)
                }
                return
            }
            switch decision {
            case .admitted(let grant):
                let lease = FleetLease(grant: grant)
                if grant.holdsLeases {
                    // Renewed at a third of the TTL: a missed renewal still leaves time for the next one.
                    let every = TimeAmount.nanoseconds(fleet.settings.leaseTTL.nanoseconds / 3)
                    lease.renewal = eventLoop.scheduleRepeatedTask(initialDelay: every, delay: every) { _ in
                        fleet.renew(grant.check, on: eventLoop)
                    }
                }
                self.fleetLease = lease
                self.engine.metrics.rateLimitDecided(
                    keyName: request.key, refusedBy: nil, reservedTokens: request.estimatedTokens)
                proceed()
            case .refused(let refusal):
                self.refuseAdmission(refusal, model: request.model, keyName: request.key)
            case .unavailable:
                fleet.fellBack()
                switch fleet.settings.fallback {
                case .local where self.engine.limiter != nil:
                    self.admitLocally(request, then: proceed)
                case .allow:
                    proceed()
                case .local, .deny:
                    // Never unlimited by accident: without a local share to enforce, fail closed.
                    self.record.limitedBy = "limits backend unavailable"
                    self.refuse(.rateLimiterUnavailable)
                }
            }
        }
    }

    /// Whether the client's key has limits to admit this request against (no key: none). A caller on the hot path
    /// asks first, so that a request without limits builds no escaping closure for `admit` (an allocation and the
    /// retains of what it captures, ~500 instructions per request in bench/profile).
    var needsAdmission: Bool {
        guard let keyName = self.record.keyName else { return false }
        return self.engine.fleet?.isLimited(keyName) ?? false || self.engine.limiter?.isLimited(keyName) ?? false
    }

    /// The host's own decision from the shared region (the only one without a fleet backend).
    private func admitLocally(_ request: AdmissionRequest, then proceed: () -> Void) {
        guard let limiter = self.engine.limiter else {
            proceed()
            return
        }
        switch limiter.admit(request, now: LimitsClock.now()) {
        case .admitted(let admission):
            self.admission = admission
            self.engine.metrics.rateLimitDecided(
                keyName: request.key, refusedBy: nil, reservedTokens: request.estimatedTokens)
            proceed()
        case .refused(let refusal):
            self.refuseAdmission(refusal, model: request.model, keyName: request.key)
        }
    }

    private func refuseAdmission(_ refusal: Refusal, model: String, keyName: String) {
        self.record.limitedBy = "\(refusal.label), \(refusal.scope)"
        self.engine.metrics.rateLimitDecided(keyName: keyName, refusedBy: refusal.kind.rawValue, reservedTokens: 0)
        self.refuse(.rateLimited(refusal, model: model, keyName: keyName))
    }

    /// Replaces the reservation by what the answer used, once, and gives the concurrency slot (or lease) back:
    /// the usage the answer reported; the estimate for a 2xx without usage; nothing when no upstream answer came
    /// (or it was an error the upstream did not bill).
    func settleAdmission() {
        let admission = self.admission
        let lease = self.fleetLease
        guard admission != nil || lease != nil else { return }
        self.admission = nil
        self.fleetLease = nil
        let reserved = self.record.tokensEstimated ?? 0
        let actual: Int?
        if let usage = self.usageScanner?.usage, usage.prompt != nil || usage.completion != nil {
            actual = (usage.prompt ?? 0) + (usage.completion ?? 0)
        } else if let status = self.record.upstreamStatus, (200..<300).contains(status) {
            actual = reserved
        } else {
            actual = nil
        }
        if let admission, let limiter = self.engine.limiter {
            limiter.release(admission.ticket)
            limiter.settle(admission.ticket, actualTokens: actual, now: LimitsClock.now())
        }
        if let lease, let fleet = self.engine.fleet {
            lease.renewal?.cancel()
            fleet.settle(lease.grant, actualTokens: actual, on: self.context.eventLoop)
        }
        guard let keyName = self.record.keyName else { return }
        let spent = actual ?? 0
        if spent < reserved {
            self.engine.metrics.rateLimitTokens(keyName: keyName, stage: "refunded", count: reserved - spent)
        } else if spent > reserved {
            self.engine.metrics.rateLimitTokens(keyName: keyName, stage: "charged", count: spent - reserved)
        }
    }

    /// Whether the answer carries `x-ratelimit-*` headers of its own admission.
    var hasAdmission: Bool {
        self.admission != nil || self.fleetLease != nil
    }

    /// The `x-ratelimit-*` headers of a limited key's answer (from its admission, local or the fleet's).
    func applyRateLimitHeaders(to head: inout ClientResponseHead) {
        if let admission = self.admission {
            RateLimitHeaders.apply(requests: admission.requests, tokens: admission.tokens, to: &head)
        } else if let lease = self.fleetLease {
            RateLimitHeaders.apply(requests: lease.grant.requests, tokens: lease.grant.tokens, to: &head)
        }
    }
}
