import NIOCore
import NIOHTTP1

/// Which answers of a pooled upstream are worth another upstream, and how long a rate-limited one is skipped.
///
/// Another upstream is tried only while no byte of an answer has reached the client, only for failures that say
/// the request was not (or need not be) served — connect refused or reset, TLS failure, timeout before the response
/// head or first body byte, or status 408, 409, 429, 500, 502, 503, 504 — and never for a streamed upload, whose body
/// is already gone. Any other answer, 4xx included, passes through at once.
enum RetryPolicy {
    static let retryableStatuses: Set<UInt> = [408, 409, 429, 500, 502, 503, 504]
    /// The longest `retry-after` honoured; a longer one (or an HTTP date) skips the upstream this long.
    static let maximumRetryAfter: Int64 = 300
    static let defaultRetryAfter: Int64 = 1

    /// `retry-after` in seconds (RFC 9110 §10.2.3); an HTTP date or nonsense counts as `defaultRetryAfter`.
    static func retryAfter(_ value: String?) -> TimeAmount {
        let seconds = value.flatMap { Int64($0) }
        return .seconds(min(max(seconds ?? Self.defaultRetryAfter, 0), Self.maximumRetryAfter))
    }
}
