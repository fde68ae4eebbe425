/// What the proxy does differently per route, decided once from the `Route` when the request head arrives, so that
/// nothing later (the answer's head, the access record) looks at path strings again.
struct RouteTraits: Sendable, Equatable {
    /// Where the request names its model.
    enum ModelSource: Sendable, Equatable {
        case none
        /// The body's top-level `model` (JSON or a multipart field).
        case body
        /// A path segment (`/v1/models/{model}`, `/health/{model}`, `/v1/images/data/{model}/…`).
        case path
    }

    /// Every route that uses or reveals a model needs a key. `/health` stays open for load balancers; image data
    /// stays open because its URLs are handed out as links (browsers fetch them without headers), like the
    /// capability URLs OpenAI itself returns. Rejected requests get their own error first.
    var needsClientKey = false
    /// A 2xx answer carries `usage` (read for the record, the metrics and the limits).
    var reportsUsage = false
    /// A JSON answer's `data[].url` values are pointed at `/v1/images/data/…` (held whole to rewrite).
    var rewritesImageURLs = false
    /// Answers are generated tokens (chat, completions, responses): admission reserves output tokens for them.
    var generatesText = false
    /// `inject_stream_usage` may add `stream_options.include_usage` to a stream of this route.
    var mayInjectStreamUsage = false
    var modelSource = ModelSource.none
    /// The body is forwarded (other routes only read and drop a small one).
    var takesBody = false
    /// Answers hand out ids of objects that live on one upstream (a stored response): they get a trailer.
    var handsOutIDs = false
    /// The body never names a model (a file upload): `?model=`, `X-Foap-Model` or the route's `default_for_route`
    /// model does, and an upload streams upstream untouched from its first byte.
    var bodyNamesNoModel = false
    /// Anthropic's Messages API: errors foap writes are Anthropic-shaped (an Anthropic SDK cannot read OpenAI's),
    /// and the client key may come as `x-api-key`, as Anthropic SDKs send it.
    var isAnthropic = false
    /// A WebSocket route: browsers cannot set `Authorization` on a WebSocket, so OpenAI's SDKs send the key as a
    /// `Sec-WebSocket-Protocol` token `openai-insecure-api-key.<key>`, which is read (and never forwarded).
    var acceptsWebSocketProtocolKey = false

    static let forwardedRoutes: [String: RouteTraits] = {
        var routes: [String: RouteTraits] = [:]
        for path in Route.forwardedPaths {
            routes[path] = RouteTraits(
                needsClientKey: true,
                reportsUsage: Self.usageRoutes.contains(path),
                rewritesImageURLs: path.hasPrefix("v1/images/"),
                generatesText: ["v1/chat/completions", "v1/responses", "v1/completions", "v1/messages"].contains(path),
                mayInjectStreamUsage: path == "v1/chat/completions" || path == "v1/completions",
                modelSource: .body,
                takesBody: true,
                handsOutIDs: Self.idRoutes.contains(path),
                bodyNamesNoModel: path == "v1/files",
                isAnthropic: path.hasPrefix("v1/messages")
            )
        }
        return routes
    }()

    /// The routes that make objects an upstream keeps (their answers' ids get a trailer, and ids a request brings
    /// back pin it to the upstream that made them).
    static let idRoutes: Set<String> = ["v1/responses", "v1/conversations", "v1/batches", "v1/files", "v1/uploads"]

    /// The routes whose 2xx answers carry generation `usage` (OpenAI's names, or Anthropic's `input_tokens` /
    /// `output_tokens` in `message_start` and `message_delta`).
    static let usageRoutes: Set<String> = [
        "v1/chat/completions", "v1/responses", "v1/completions", "v1/embeddings", "v1/messages",
    ]
}

extension Route {
    var traits: RouteTraits {
        switch self {
        case .forward(let path):
            return ForwardedRouteTable.shared.entry(for: Substring(path))?.traits
                ?? RouteTraits(needsClientKey: true, modelSource: .body, takesBody: true)
        case .listModels, .metrics:
            return RouteTraits(needsClientKey: true)
        case .retrieveModel, .modelHealth:
            return RouteTraits(needsClientKey: true, modelSource: .path)
        case .imageData:
            return RouteTraits(modelSource: .path)
        case .byID(let family, _, let suffix):
            return RouteTraits(
                needsClientKey: true, modelSource: .path, takesBody: family.callTakesBody(after: suffix),
                handsOutIDs: family.tagsAnswers(after: suffix))
        case .list:
            return RouteTraits(needsClientKey: true, modelSource: .path, handsOutIDs: true)
        case .webSocket:
            return RouteTraits(needsClientKey: true, modelSource: .path, acceptsWebSocketProtocolKey: true)
        case .health, .rejected:
            return RouteTraits()
        }
    }
}
