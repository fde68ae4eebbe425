import FOAPLimits
import NIOCore
import NIOHTTP1

/// Per-key limits in the request path: one admission per client request, after its model is known and before
/// its first upstream attempt (never per attempt); tokens reserved then and settled once when the exchange
/// finishes; the concurrency slot given back on every exit path (finish, and the ticket's own release if the
/// exchange is dropped).
extension ProxyExchange {
    /// Admits the request under its key's limits. A refusal is answered here (429) and took nothing from any limit.
    /// - Parameters:
    ///   - body: the JSON body, for its output bounds (nil for uploads and image data).
    ///   - bodyBytes: the body's size, for the prompt estimate.
    /// - Returns: whether the request may go on.
    func admit(model: String, body: ByteBuffer?, bodyBytes: Int) -> Bool {
        guard let limiter = self.engine.limiter, let keyName = self.record.keyName, limiter.isLimited(keyName) else {
            return true
        }
        let estimate = TokenEstimate.of(
            promptBytes: bodyBytes, fields: body.map(JSONModelScanner.outputTokenFields),
            generatesText: self.traits.generatesText, settings: self.engine.configuration.limits)
        self.record.tokensEstimated = estimate.total
        let request = AdmissionRequest(
            key: keyName, model: model, estimatedTokens: estimate.total, declaredOutputTokens: estimate.declaredOutput)
        switch limiter.admit(request, now: LimitsClock.now()) {
        case .admitted(let admission):
            self.admission = admission
            self.engine.metrics.rateLimitDecided(keyName: keyName, refusedBy: nil, reservedTokens: estimate.total)
            return true
        case .refused(let refusal):
            self.record.limitedBy = "\(refusal.label), \(refusal.scope)"
            self.engine.metrics.rateLimitDecided(keyName: keyName, refusedBy: refusal.kind.rawValue, reservedTokens: 0)
            self.refuse(.rateLimited(refusal, model: model, keyName: keyName))
            return false
        }
    }

    /// Replaces the reservation by what the answer used, once, and gives the concurrency slot back: the usage the
    /// answer reported; the estimate for a 2xx without usage; nothing when no upstream answer came (or it was an
    /// error the upstream did not bill).
    func settleAdmission() {
        guard let admission = self.admission, let limiter = self.engine.limiter else { return }
        self.admission = nil
        limiter.release(admission.ticket)
        let reserved = self.record.tokensEstimated ?? 0
        let actual: Int?
        if let usage = self.usageScanner?.usage, usage.prompt != nil || usage.completion != nil {
            actual = (usage.prompt ?? 0) + (usage.completion ?? 0)
        } else if let status = self.record.upstreamStatus, (200..<300).contains(status) {
            actual = reserved
        } else {
            actual = nil
        }
        limiter.settle(admission.ticket, actualTokens: actual, now: LimitsClock.now())
        guard let keyName = self.record.keyName else { return }
        let spent = actual ?? 0
        if spent < reserved {
            self.engine.metrics.rateLimitTokens(keyName: keyName, stage: "refunded", count: reserved - spent)
        } else if spent > reserved {
            self.engine.metrics.rateLimitTokens(keyName: keyName, stage: "charged", count: spent - reserved)
        }
    }

    /// The `x-ratelimit-*` headers of a limited key's answer (from its admission, or the refusal's numbers).
    func applyRateLimitHeaders(to headers: inout HTTPHeaders) {
        if let admission = self.admission {
            RateLimitHeaders.apply(requests: admission.requests, tokens: admission.tokens, to: &headers)
        }
    }
}
