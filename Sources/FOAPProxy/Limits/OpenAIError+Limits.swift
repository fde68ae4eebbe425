import FOAPLimits
import Foundation
import NIOHTTP1

extension OpenAIError {
    /// The 429 of a refused admission, in OpenAI's words: `rate_limit_exceeded` for rates and concurrency (type
    /// `tokens` or `requests`), `insufficient_quota` with the UTC reset for an exhausted budget.
    static func rateLimited(_ refusal: Refusal, model: String, keyName: String) -> OpenAIError {
        let wait = refusal.retryAfter.map { RateLimitHeaders.retryAfter($0) }
        var headers: [(String, String)] = []
        if let wait {
            headers.append(("retry-after", String(wait.seconds)))
            headers.append(("retry-after-ms", String(wait.milliseconds)))
        }
        if refusal.neverFits {
            headers.append(("x-should-retry", "false"))
        }
        headers += RateLimitHeaders.refused(refusal)
        let subject = "Rate limit reached for \(model) for key '\(keyName)'"
        let numbers = "Limit \(refusal.limit), Used \(refusal.used), Requested \(refusal.requested)."
        let message: String
        let code: Code
        let type: String
        switch refusal.kind {
        case .budget:
            code = .insufficientQuota
            type = "insufficient_quota"
            let reset = refusal.resetsAt.map { Self.utc($0) } ?? "the next period"
            message = "You exceeded the \(refusal.label) budget of key '\(keyName)' (\(refusal.scope)): \(numbers) "
                + "It resets at \(reset)."
        case .tokens:
            code = .rateLimitExceeded
            type = "tokens"
            message = Self.message(subject, refusal, numbers, wait: wait)
        case .requests, .concurrency:
            code = .rateLimitExceeded
            type = "requests"
            message = Self.message(subject, refusal, numbers, wait: wait)
        }
        return OpenAIError(
            status: .tooManyRequests, type: type, code: code, message: message, headers: headers)
    }

    /// `FOAP_LIMITS_ON_BACKEND_ERROR=deny` while Redis cannot decide: fail closed, and ask the client to retry soon.
    static let rateLimiterUnavailable = OpenAIError(
        status: .serviceUnavailable, type: "server_error", code: .rateLimiterUnavailable,
        message: "The rate limiter is unavailable; retry the request shortly.", headers: [("retry-after", "1")])

    private static func message(
        _ subject: String, _ refusal: Refusal, _ numbers: String, wait: (seconds: Int64, milliseconds: Int64)?
    ) -> String {
        if refusal.neverFits {
            return "\(subject) on \(refusal.label) (\(refusal.scope)): \(numbers) "
                + "The request asks for more than the limit allows and can never fit; lower max_tokens."
        }
        // Rounded up to a tenth, never "0.0s": a wait under 50 ms read as "now" beside a `retry-after: 1`.
        let tenths = wait.map { max(1, ($0.milliseconds + 99) / 100) } ?? 10
        let seconds = "\(tenths / 10).\(tenths % 10)"
        return "\(subject) on \(refusal.label) (\(refusal.scope)): \(numbers) Please try again in \(seconds)s."
    }

    /// `2026-12-06T00:00:00Z`.
    private static func utc(_ unixSeconds: Int64) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.timeZone = TimeZone(identifier: "UTC")
        return formatter.string(from: Date(timeIntervalSince1970: TimeInterval(unixSeconds)))
    }
}
