import FOAPConfig
import NIOHTTP1

/// The HTTP half of a WebSocket (RFC 6455 §4): recognising a client's opening handshake and writing the one the
/// upstream gets. foap never answers the handshake itself: the upstream's `101` (its `Sec-WebSocket-Accept`, its
/// chosen protocol and extensions) goes back to the client, so the two ends agree on everything and the frames in
/// between pass untouched.
enum WebSocketHandshake {
    /// The `Sec-WebSocket-Protocol` token OpenAI's SDKs use to carry a key from a browser, which cannot set
    /// `Authorization` on a WebSocket.
    static let keyProtocolPrefix = "openai-insecure-api-key."

    /// Whether `head` asks for a WebSocket: `Upgrade: websocket`, `Connection: upgrade`, one key, version 13.
    static func isUpgrade(_ head: HTTPRequestHead) -> Bool {
        let headers = head.headers
        return head.method == .GET && head.version == .http1_1
            && headers["upgrade"].contains { Self.tokens(of: $0).contains("websocket") }
            && headers["connection"].contains { Self.tokens(of: $0).contains("upgrade") }
            && headers["sec-websocket-key"].count == 1
            && headers["sec-websocket-version"].first?.trimmingSpaces() == "13"
    }

    /// The client key carried as an `openai-insecure-api-key.<key>` protocol token, if any.
    static func protocolKey(in headers: HTTPHeaders) -> String? {
        for value in headers["sec-websocket-protocol"] {
            for token in value.split(separator: ",") {
                let token = token.trimmingSpaces()
                if token.hasPrefix(Self.keyProtocolPrefix), token.count > Self.keyProtocolPrefix.count {
                    return String(token.dropFirst(Self.keyProtocolPrefix.count))
                }
            }
        }
        return nil
    }

    /// The opening handshake as the upstream must see it: the client's end-to-end headers (key, version,
    /// protocols, extensions, `OpenAI-Beta`) without its credentials, the upstream's key, the upstream's `Host`.
    static func upstreamHead(
        client: HTTPRequestHead, target: String, hostHeader: String, apiKey: String?, authHeader: UpstreamAuthHeader
    ) -> HTTPRequestHead {
        var headers = HeaderPolicy.upstreamHeaders(
            from: client.headers, apiKey: apiKey, contentLength: nil, authHeader: authHeader)
        headers.remove(name: "x-foap-model")
        // A key in the protocol list would reach the upstream: the list goes on without it.
        let protocols = client.headers["sec-websocket-protocol"].flatMap { $0.split(separator: ",") }
            .map { $0.trimmingSpaces() }
        if protocols.contains(where: { $0.hasPrefix(Self.keyProtocolPrefix) }) {
            headers.remove(name: "sec-websocket-protocol")
            let kept = protocols.filter { !$0.hasPrefix(Self.keyProtocolPrefix) && !$0.isEmpty }
            if !kept.isEmpty {
                headers.add(name: "Sec-WebSocket-Protocol", value: kept.joined(separator: ", "))
            }
        }
        headers.add(name: "Host", value: hostHeader)
        headers.add(name: "Connection", value: "Upgrade")
        headers.add(name: "Upgrade", value: "websocket")
        return HTTPRequestHead(version: .http1_1, method: .GET, uri: target, headers: headers)
    }

    /// The query the upstream gets: the client's parameters without credentials, `model` set to the upstream's
    /// own name for the model (added when the client named it in `X-Foap-Model` instead).
    static func upstreamQuery(of uri: String, targetModel: String) -> String {
        let model = "model=" + targetModel.addingPathPercentEncoding()
        guard let query = HeaderPolicy.upstreamQuery(of: uri)?.dropFirst() else { return "?" + model }
        var parameters = query.split(separator: "&", omittingEmptySubsequences: true).map(String.init)
        if let index = parameters.firstIndex(where: { $0.hasPrefix("model=") || $0 == "model" }) {
            parameters[index] = model
            parameters.removeAll { $0.hasPrefix("model=") && $0 != model }
        } else {
            parameters.append(model)
        }
        return "?" + parameters.joined(separator: "&")
    }

    /// The comma-separated tokens of a header value, lower-cased.
    private static func tokens(of value: String) -> [String] {
        value.split(separator: ",").map { $0.trimmingSpaces().lowercased() }
    }
}
