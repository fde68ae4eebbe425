import FOAPHTTP1
import FOAPLimits
import NIOHTTP1

/// OpenAI's `x-ratelimit-*` headers and the 429 bodies, so that every SDK backs off as it does against OpenAI.
public enum RateLimitHeaders {
    /// For a limited key these replace the upstream's, which describe the operator's shared provider account.
    static let names = [
        "x-ratelimit-limit-requests", "x-ratelimit-remaining-requests", "x-ratelimit-reset-requests",
        "x-ratelimit-limit-tokens", "x-ratelimit-remaining-tokens", "x-ratelimit-reset-tokens",
    ]

    /// Sets the key's headers on a client head: the upstream's of the same names, relayed or not, are dropped.
    static func apply(requests: RateStatus?, tokens: RateStatus?, to head: inout ClientResponseHead) {
        _ = head.relayed?.remove(namesIn: Self.nameSet)
        Self.apply(requests: requests, tokens: tokens, to: &head.head.headers)
    }

    private static let nameSet = HTTPFieldNameSet(Self.names)

    static func apply(requests: RateStatus?, tokens: RateStatus?, to headers: inout HTTPHeaders) {
        // Most heads have none: one pass over the names' first bytes instead of six lookups.
        let mayHaveSome = headers.contains { header in
            header.name.utf8.count > 11 && header.name.utf8.first.map { $0 | 0x20 == UInt8(ascii: "x") } == true
        }
        if mayHaveSome {
            for name in Self.names where headers.contains(name: name) {
                headers.remove(name: name)
            }
        }
        if let requests {
            headers.add(name: "x-ratelimit-limit-requests", value: String(requests.limit))
            headers.add(name: "x-ratelimit-remaining-requests", value: String(max(0, requests.remaining)))
            headers.add(
                name: "x-ratelimit-reset-requests", value: Self.reset(nanoseconds: requests.resetAfterNanoseconds))
        }
        if let tokens {
            headers.add(name: "x-ratelimit-limit-tokens", value: String(tokens.limit))
            headers.add(name: "x-ratelimit-remaining-tokens", value: String(max(0, tokens.remaining)))
            headers.add(name: "x-ratelimit-reset-tokens", value: Self.reset(nanoseconds: tokens.resetAfterNanoseconds))
        }
    }

    /// The `x-ratelimit-*` headers of a 429 for a rate: that rate's limit, nothing remaining, and its wait as the
    /// reset (a refused request learns the same numbers an admitted one would).
    static func refused(_ refusal: Refusal) -> [(String, String)] {
        let kind: String
        switch refusal.kind {
        case .requests: kind = "requests"
        case .tokens: kind = "tokens"
        case .concurrency, .budget: return []
        }
        let reset = refusal.retryAfter.map { Self.reset($0) } ?? "0ms"
        return [
            ("x-ratelimit-limit-\(kind)", String(refusal.limit)), ("x-ratelimit-remaining-\(kind)", "0"),
            ("x-ratelimit-reset-\(kind)", reset),
        ]
    }

    /// A reset as OpenAI writes it: `12ms`, `1s`, `1.5s`, `6m0s`, `1h2m3s`.
    public static func reset(_ duration: Duration) -> String {
        Self.reset(nanoseconds: Int64(duration.components.seconds) * 1_000_000_000
            + duration.components.attoseconds / 1_000_000_000)
    }

    /// `reset` from plain nanoseconds (the hot path's form).
    static func reset(nanoseconds: Int64) -> String {
        let milliseconds = max(0, nanoseconds / 1_000_000)
        if milliseconds < 1000 {
            return String(milliseconds) + "ms"
        }
        let totalSeconds = milliseconds / 1000
        let hours = totalSeconds / 3600
        let minutes = totalSeconds % 3600 / 60
        let seconds = totalSeconds % 60
        let fraction = milliseconds % 1000
        var text = ""
        if hours > 0 { text += "\(hours)h" }
        if hours > 0 || minutes > 0 { text += "\(minutes)m" }
        if fraction == 0 || hours > 0 || minutes > 0 {
            text += "\(seconds)s"
        } else {
            var decimals = String(fraction + 1000).dropFirst()
            while decimals.last == "0" { decimals = decimals.dropLast() }
            text += "\(seconds).\(decimals)s"
        }
        return text
    }

    /// Whole seconds for `retry-after` (at least 1), and milliseconds for `retry-after-ms`.
    static func retryAfter(_ duration: Duration) -> (seconds: Int64, milliseconds: Int64) {
        let milliseconds = max(1, Int64(duration.components.seconds) * 1000
            + duration.components.attoseconds / 1_000_000_000_000_000)
        return ((milliseconds + 999) / 1000, milliseconds)
    }
}
