import FOAPConfig
import NIOHTTP1

/// Which headers cross the proxy, in each direction.
///
/// Hop-by-hop headers (RFC 9110 §7.6.1) describe one connection and never cross; `Host` and `Content-Length` are
/// recomputed for the upstream request (the body is rewritten); a response's `Content-Length` passes; the client's credentials never reach the upstream (it gets the provider's
/// key instead). Every other end-to-end header — `OpenAI-Beta`, `Idempotency-Key`, `X-Request-ID` up,
/// `x-request-id`, `openai-processing-ms`, `x-ratelimit-*`, `retry-after` down — passes unchanged.
public enum HeaderPolicy {
    static let hopByHop: Set<String> = [
        "connection", "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization", "te", "trailer",
        "transfer-encoding", "upgrade",
    ]

    /// Request headers the proxy sets itself or must not forward.
    static let notForwardedUp: Set<String> = hopByHop.union([
        "host", "content-length", "authorization", "api-key", "x-api-key", "expect",
    ])

    /// Query parameters that carry a client's credential in some SDKs and tools; never forwarded upstream.
    static let credentialQueryParameters: Set<String> = ["api-key", "api_key", "apikey", "key", "access_token"]

    /// Response headers that do not reach the client. `Content-Length` does: the body is relayed byte for byte
    /// (a rewritten image answer sets its own), so a sized answer stays sized instead of being re-framed as
    /// chunked — fewer bytes and fewer writes per response, and what the client would get from the upstream.
    static let notForwardedDown: Set<String> = hopByHop

    /// Name lengths of `notForwardedUp` / `notForwardedDown` as bit sets: a header whose name has none of these
    /// lengths is kept without lowercasing it (most are: `Content-Type`, `Date`, `x-request-id`, …).
    private static let notForwardedUpLengths = Self.lengthMask(Self.notForwardedUp)
    private static let notForwardedDownLengths = Self.lengthMask(Self.notForwardedDown)

    /// Headers for the upstream request.
    /// - Parameters:
    ///   - client: the client's request headers.
    ///   - apiKey: the provider's key, sent as `Authorization: Bearer …`; nil sends none.
    ///   - contentLength: the length of the forwarded body, nil for chunked or no body.
    ///   - authHeader: how the provider takes its key (`auth_header`).
    public static func upstreamHeaders(
        from client: HTTPHeaders, apiKey: String?, contentLength: Int?, authHeader: UpstreamAuthHeader = .authorization
    ) -> HTTPHeaders {
        var headers = Self.removing(Self.notForwardedUp, lengths: Self.notForwardedUpLengths, from: client)
        if let apiKey {
            switch authHeader {
            case .authorization: headers.add(name: "Authorization", value: "Bearer \(apiKey)")
            case .xAPIKey: headers.add(name: "x-api-key", value: apiKey)
            }
        }
        if let contentLength {
            headers.add(name: "Content-Length", value: String(contentLength))
        }
        return headers
    }

    /// The query part of `uri` for the upstream (`?` included), without credential parameters; nil for none.
    static func upstreamQuery(of uri: String) -> Substring? {
        // Byte-wise: `String.firstIndex(of:)` walks characters (~7,600 instructions per request in bench/profile).
        guard let mark = uri.utf8.firstIndex(of: UInt8(ascii: "?")) else { return nil }
        let query = uri[uri.index(after: mark)...]
        let parameters = query.split(separator: "&", omittingEmptySubsequences: false)
        let kept = parameters.filter { parameter in
            let name = parameter.prefix { $0 != "=" }
            return !Self.credentialQueryParameters.contains(name.lowercased())
        }
        if kept.count == parameters.count {
            return uri[mark...]
        }
        return kept.isEmpty ? nil : Substring("?" + kept.joined(separator: "&"))
    }

    /// Headers for the client's response: the upstream's end-to-end headers.
    public static func downstreamHeaders(from upstream: HTTPHeaders) -> HTTPHeaders {
        Self.removing(Self.notForwardedDown, lengths: Self.notForwardedDownLengths, from: upstream)
    }

    /// `headers` without the `dropped` ones and those its `Connection` header lists, order kept.
    ///
    /// Removes in place what is present (usually only `Connection`, or `Host` and `Content-Length`) instead of
    /// rebuilding the block header by header: `HTTPHeaders.add` validates every name, and lowercasing every name
    /// to look it up cost more than the rest of the filtering (bench/profile).
    private static func removing(_ dropped: Set<String>, lengths: UInt64, from headers: HTTPHeaders) -> HTTPHeaders {
        let tokens = Self.connectionTokens(headers)
        var present: [String] = []
        for (name, _) in headers {
            let length = name.utf8.count
            guard !tokens.isEmpty || (length < 64 && lengths & (1 << UInt64(length)) != 0) else { continue }
            let lowered = name.lowercased()
            if dropped.contains(lowered) || tokens.contains(lowered), !present.contains(lowered) {
                present.append(lowered)
            }
        }
        var result = headers
        for name in present {
            result.remove(name: name)
        }
        return result
    }

    private static func lengthMask(_ names: Set<String>) -> UInt64 {
        names.reduce(0) { mask, name in mask | (1 << UInt64(name.utf8.count)) }
    }

    /// Header names listed in `Connection:` are hop-by-hop too.
    ///
    /// Nearly every upstream answer says `Connection: keep-alive` (or `close`), which names no header to drop:
    /// recognised without splitting or lowercasing, since building the token set cost ~7,800 instructions per
    /// response in bench/profile.
    private static func connectionTokens(_ headers: HTTPHeaders) -> Set<String> {
        let values = headers["connection"]
        guard !values.isEmpty else { return [] }
        var tokens = Set<String>()
        for value in values where !Self.namesNoHeader(value) {
            for token in value.split(separator: ",") {
                tokens.insert(token.trimmingSpaces().lowercased())
            }
        }
        return tokens
    }

    /// Whether a `Connection` value is just `keep-alive` or `close` (any case): options, not header names.
    private static func namesNoHeader(_ value: String) -> Bool {
        Self.equalsIgnoringASCIICase(value, "keep-alive") || Self.equalsIgnoringASCIICase(value, "close")
    }

    /// `lowercase` must be lower-case ASCII.
    private static func equalsIgnoringASCIICase(_ value: String, _ lowercase: StaticString) -> Bool {
        let bytes = value.utf8
        guard bytes.count == lowercase.utf8CodeUnitCount else { return false }
        return lowercase.withUTF8Buffer { expected in
            zip(bytes, expected).allSatisfy { actual, wanted in
                actual == wanted || (actual >= UInt8(ascii: "A") && actual <= UInt8(ascii: "Z") && actual | 0x20 == wanted)
            }
        }
    }
}
