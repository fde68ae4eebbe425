import NIOCore

/// How many tokens a request is charged before its answer is known (reserved at admission, settled with the
/// answer's `usage` afterwards).
struct TokenEstimate: Equatable {
    /// The whole reservation: the prompt plus every answer the request may produce.
    var total: Int
    /// The output the request declares (`n` × `max_tokens`…), when it declares one: if that alone exceeds a token
    /// limit the request can never fit.
    var declaredOutput: Int?

    /// - Parameters:
    ///   - promptBytes: the request body's size; one token per `bytesPerToken` bytes (a deliberately simple rule,
    ///     made exact by the settlement).
    ///   - fields: the body's output bounds (nil for bodies that are not JSON: uploads).
    ///   - generatesText: the route produces tokens (chat, completions, responses), not only reads them.
    static func of(
        promptBytes: Int, fields: OutputTokenFields?, generatesText: Bool, settings: LimitsSettings
    ) -> TokenEstimate {
        let prompt = (promptBytes + settings.bytesPerToken - 1) / settings.bytesPerToken
        guard generatesText else {
            return TokenEstimate(total: prompt, declaredOutput: nil)
        }
        let choices = max(1, min(fields?.choices ?? 1, 128))
        let declared = fields?.maxOutputTokens.map { min($0, 10_000_000) * choices }
        let output = declared ?? settings.defaultOutputTokens * choices
        return TokenEstimate(total: prompt + output, declaredOutput: declared)
    }
}

/// Settings of the per-key limits that do not come from the key file.
public struct LimitsSettings: Sendable, Equatable {
    /// Bytes of a request body counted as one prompt token in the estimate (`FOAP_LIMITS_BYTES_PER_TOKEN`).
    public var bytesPerToken = 4
    /// Output tokens reserved for a generating request that declares no `max_tokens`
    /// (`FOAP_LIMITS_DEFAULT_OUTPUT_TOKENS`).
    public var defaultOutputTokens = 512
    /// Limits decided for the whole fleet by Redis/Valkey (`FOAP_LIMITS_REDIS_URL`); nil: per host.
    public var fleet: FleetLimitsSettings?

    public init() {}
}
