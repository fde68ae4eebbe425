import FOAPConfig
import FOAPHTTP1
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

    /// Request headers the proxy sets itself or must not forward. `Sec-WebSocket-Protocol` carries a client key as
    /// `openai-insecure-api-key.<key>` (browsers cannot set `Authorization` on a socket); a WebSocket's upstream
    /// handshake is foap's own, and on any other request the field means nothing.
    static let notForwardedUp: Set<String> = hopByHop.union([
        "host", "content-length", "authorization", "api-key", "x-api-key", "expect", "sec-websocket-protocol",
    ])

    /// Query parameters that carry a client's credential in some SDKs and tools; never forwarded upstream.
    static let credentialQueryParameters: Set<String> = ["api-key", "api_key", "apikey", "key", "access_token"]

    /// Response headers that do not reach the client. `Content-Length` does: the body is relayed byte for byte
    /// (a rewritten image answer sets its own), so a sized answer stays sized instead of being re-framed as
    /// chunked — fewer bytes and fewer writes per response, and what the client would get from the upstream.
    static let notForwardedDown: Set<String> = hopByHop

    private static let droppedUp = HTTPFieldNameSet(Self.notForwardedUp)
    private static let droppedDown = HTTPFieldNameSet(Self.notForwardedDown)

    /// Headers for the upstream request.
    /// - Parameters:
    ///   - client: the client's request headers.
    ///   - apiKey: the provider's key, sent as `Authorization: Bearer …`; nil sends none.
    ///   - contentLength: the length of the forwarded body, nil for chunked or no body.
    ///   - authHeader: how the provider takes its key (`auth_header`).
    public static func upstreamHeaders(
        from client: HTTPHeaders, apiKey: String?, contentLength: Int?, authHeader: UpstreamAuthHeader = .authorization
    ) -> HTTPHeaders {
        var headers = Self.removing(Self.droppedUp, from: client)
        for (name, value) in Self.upstreamAddedFields(apiKey: apiKey, contentLength: contentLength, authHeader: authHeader)
        {
            headers.add(name: name, value: value)
        }
        return headers
    }

    /// The client's fields to forward, for a request encoded straight into bytes (`HTTPRequestWriter`): those that
    /// do not cross, and those its `Connection` field lists, dropped by position; nothing is copied.
    static func upstreamFields(from client: HTTPFieldBlock) -> HTTPFieldBlock {
        Self.removing(Self.droppedUp, from: client)
    }

    /// The fields foap adds to the client's for the upstream, for AsyncHTTPClient (which sets `Host` itself): the
    /// provider's key (nil: none), then the forwarded body's length (nil: chunked or no body).
    static func upstreamAddedFields(
        apiKey: String?, contentLength: Int?, authHeader: UpstreamAuthHeader
    ) -> [(name: String, value: String)] {
        var added: [(name: String, value: String)] = []
        added.reserveCapacity(2)
        if let apiKey {
            let field = Self.credentialField(authHeader)
            added.append((field.name.description, field.valuePrefix.description + apiKey))
        }
        if let contentLength {
            added.append(("Content-Length", String(contentLength)))
        }
        return added
    }

    /// The same fields for a request foap encodes itself (the pooled plain-HTTP upstreams), in the same order, then
    /// the upstream's `Host` line.
    static func upstreamAddedFields(
        apiKey: String?, contentLength: Int?, authHeader: UpstreamAuthHeader, hostLine: [UInt8]
    ) -> HTTPAddedFields {
        let field = Self.credentialField(authHeader)
        return HTTPAddedFields(
            credential: apiKey.map { (field.name, field.valuePrefix, $0) }, contentLength: contentLength, lines: hostLine)
    }

    /// How `authHeader` carries a key: the field's name, and what comes before the key in its value. The one place
    /// both ways of adding the fields (above) take it from.
    private static func credentialField(
        _ authHeader: UpstreamAuthHeader
    ) -> (name: StaticString, valuePrefix: StaticString) {
        switch authHeader {
        case .authorization: return ("Authorization", "Bearer ")
        case .xAPIKey: return ("x-api-key", "")
        }
    }

    /// The query part of `uri` for the upstream (`?` included), without credential parameters; nil for none.
    static func upstreamQuery(of uri: String) -> Substring? {
        // Byte-wise: `String.firstIndex(of:)` walks characters (~7,600 instructions per request in bench/profile).
        guard let mark = uri.firstUTF8Index(where: { $0 == UInt8(ascii: "?") }) else { return nil }
        let query = uri[uri.index(after: mark)...]
        let parameters = query.split(separator: "&", omittingEmptySubsequences: false)
        let kept = parameters.filter { parameter in
            let name = parameter.prefix { $0 != "=" }
            // `ke%79` is `key` to the upstream's query parser.
            let decoded = Route.percentDecoded(name) ?? String(name)
            return !Self.credentialQueryParameters.contains(decoded.lowercased())
        }
        if kept.count == parameters.count {
            return uri[mark...]
        }
        return kept.isEmpty ? nil : Substring("?" + kept.joined(separator: "&"))
    }

    /// Headers for the client's response: the upstream's end-to-end headers.
    public static func downstreamHeaders(from upstream: HTTPHeaders) -> HTTPHeaders {
        Self.removing(Self.droppedDown, from: upstream)
    }

    /// The upstream's end-to-end fields for the client's response, as bytes: the hop-by-hop ones and those its
    /// `Connection` field lists are dropped by position, nothing is copied.
    public static func downstreamFields(from upstream: HTTPFieldBlock) -> HTTPFieldBlock {
        Self.removing(Self.droppedDown, from: upstream)
    }

    /// `block` without the `dropped` fields and those its `Connection` field lists.
    private static func removing(_ dropped: HTTPFieldNameSet, from block: HTTPFieldBlock) -> HTTPFieldBlock {
        var fields = block
        guard fields.remove(namesIn: dropped) else { return fields }
        // A `Connection` field names more fields (rare): those go too.
        var listed: Set<String> = []
        block.forEach { name, value in
            if HTTPFieldBlock.equals(name, lowercase: "connection") {
                Self.connectionTokens(value, into: &listed)
            }
        }
        if !listed.isEmpty {
            fields.removeAll { name, _ in listed.contains(String(decoding: name, as: UTF8.self).lowercased()) }
        }
        return fields
    }

    /// The header names a `Connection` value lists (lower-case), beyond the `keep-alive`/`close` options.
    private static func connectionTokens(_ value: UnsafeRawBufferPointer, into tokens: inout Set<String>) {
        guard !HTTPFieldBlock.equals(value, lowercase: "keep-alive"), !HTTPFieldBlock.equals(value, lowercase: "close")
        else {
            return
        }
        for token in String(decoding: value, as: UTF8.self).split(separator: ",") {
            tokens.insert(token.trimmingSpaces().lowercased())
        }
    }

    /// `headers` without the `dropped` ones and those its `Connection` header lists, order kept.
    ///
    /// One pass decides, comparing names byte-wise: only a `Connection` value other than `keep-alive`/`close`
    /// names more headers. When something goes, the kept headers are copied once into a new block.
    /// (`HTTPHeaders.remove` per name, each scanning the whole block, after lowercasing and hashing every candidate
    /// name, cost ~10,000 instructions per request in bench/profile.)
    private static func removing(_ dropped: HTTPFieldNameSet, from headers: HTTPHeaders) -> HTTPHeaders {
        // The positions of the dropped headers, so the copy does not compare names again.
        guard let positions = Self.droppedPositions(dropped, in: headers) else {
            return Self.removing(dropped, listedIn: Self.connectionTokens(headers), from: headers)
        }
        guard positions != 0 else { return headers }
        var kept: [(String, String)] = []
        kept.reserveCapacity(headers.count)
        for (index, (name, value)) in headers.enumerated() where index >= 64 || positions & (1 << UInt64(index)) == 0 {
            kept.append((name, value))
        }
        return HTTPHeaders(kept)
    }

    /// The positions of the `dropped` headers (bit n: header n); nil when a `Connection` header names more headers
    /// to drop, or a header to drop lies beyond the 64th (the general copy then decides).
    private static func droppedPositions(_ dropped: HTTPFieldNameSet, in headers: HTTPHeaders) -> UInt64? {
        var positions: UInt64 = 0
        for (index, (name, value)) in headers.enumerated() where dropped.contains(name) {
            if Self.equalsIgnoringASCIICase(name, "connection"), !Self.namesNoHeader(value) {
                return nil
            }
            guard index < 64 else { return nil }
            positions |= 1 << UInt64(index)
        }
        return positions
    }

    /// The copy without the dropped headers and those in `tokens` (lower-case).
    private static func removing(
        _ dropped: HTTPFieldNameSet, listedIn tokens: Set<String>, from headers: HTTPHeaders
    ) -> HTTPHeaders {
        var kept: [(String, String)] = []
        kept.reserveCapacity(headers.count)
        for (name, value) in headers
        where !dropped.contains(name) && (tokens.isEmpty || !tokens.contains(name.lowercased())) {
            kept.append((name, value))
        }
        return HTTPHeaders(kept)
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
        var value = value
        return value.withUTF8 { bytes in
            lowercase.withUTF8Buffer { Self.equalsIgnoringASCIICase(bytes, $0) }
        }
    }

    /// `expected` must be lower-case ASCII.
    static func equalsIgnoringASCIICase(_ bytes: UnsafeBufferPointer<UInt8>, _ expected: UnsafeBufferPointer<UInt8>)
        -> Bool
    {
        guard bytes.count == expected.count else { return false }
        for index in 0..<bytes.count {
            let actual = bytes[index]
            let wanted = expected[index]
            let isUpper = actual >= UInt8(ascii: "A") && actual <= UInt8(ascii: "Z")
            guard actual == wanted || (isUpper && actual | 0x20 == wanted) else { return false }
        }
        return true
    }
}
