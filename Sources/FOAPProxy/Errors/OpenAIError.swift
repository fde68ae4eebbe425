import NIOCore
import NIOHTTP1

/// An error answered to the client in OpenAI's shape:
/// `{"error": {"message": …, "type": …, "param": …, "code": …}}`.
///
/// The set of codes is closed on purpose: `code` doubles as the access log's `error` field, so it must stay a
/// small, bounded vocabulary (like AsyncHTTPClient's `HTTPClientError`). Messages may carry request data (a model
/// id, a route) but never a secret.
public struct OpenAIError: Error, Sendable, Equatable {
    /// The closed vocabulary of `code`: it doubles as the access log's `error` field and a metrics label value.
    public enum Code: String, Sendable {
        case badHTTPRequest = "bad_http_request"
        case invalidAPIKey = "invalid_api_key"
        case invalidFileID = "invalid_file_id"
        case invalidJSON = "invalid_json"
        case invalidModel = "invalid_model"
        case invalidMultipart = "invalid_multipart"
        case methodNotAllowed = "method_not_allowed"
        case metricsUnavailable = "metrics_unavailable"
        case missingModel = "missing_model"
        case modelNotFound = "model_not_found"
        case noHealthyUpstream = "no_healthy_upstream"
        case requestTimeout = "request_timeout"
        case rateLimitExceeded = "rate_limit_exceeded"
        case unknownID = "unknown_id"
        case pinnedUpstreamUnavailable = "pinned_upstream_unavailable"
        case rateLimiterUnavailable = "rate_limiter_unavailable"
        case insufficientQuota = "insufficient_quota"
        case requestTooLarge = "request_too_large"
        case shuttingDown = "shutting_down"
        case unknownURL = "unknown_url"
        case unsupportedRouteForModel = "unsupported_route_for_model"
        case upstreamError = "upstream_error"
        case upstreamKeyMissing = "upstream_key_missing"
        case upstreamTimeout = "upstream_timeout"
        case upstreamUnreachable = "upstream_unreachable"
        case webSocketUpgradeRequired = "websocket_upgrade_required"
    }

    public let status: HTTPResponseStatus
    public let type: String
    public let code: Code
    public let message: String
    public let param: String?
    /// Extra response headers (e.g. `Allow` on a 405).
    public let headers: [(String, String)]

    public init(
        status: HTTPResponseStatus,
        type: String,
        code: Code,
        message: String,
        param: String? = nil,
        headers: [(String, String)] = []
    ) {
        self.status = status
        self.type = type
        self.code = code
        self.message = message
        self.param = param
        self.headers = headers
    }

    public static func == (lhs: OpenAIError, rhs: OpenAIError) -> Bool {
        lhs.status == rhs.status && lhs.type == rhs.type && lhs.code == rhs.code && lhs.message == rhs.message
            && lhs.param == rhs.param
    }

    /// The response headers for `body`: JSON content type, its length, and the error's own extra headers.
    public func headers(forBody body: ByteBuffer) -> HTTPHeaders {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/json")
        headers.add(name: "Content-Length", value: String(body.readableBytes))
        for (name, value) in self.headers {
            headers.add(name: name, value: value)
        }
        return headers
    }

    /// The same error in Anthropic's shape, for the Messages routes: `{"type":"error","error":{"type":…,"message":…}}`
    /// with Anthropic's type for the status (an Anthropic SDK cannot read OpenAI's shape).
    public func anthropicBody(allocator: ByteBufferAllocator = ByteBufferAllocator()) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: 64 + self.message.utf8.count)
        buffer.writeStaticString("{\"type\":\"error\",\"error\":{\"type\":")
        buffer.writeJSONString(self.anthropicType)
        buffer.writeStaticString(",\"message\":")
        buffer.writeJSONString(self.message)
        buffer.writeStaticString("}}\n")
        return buffer
    }

    /// Anthropic's error type for this status (docs.anthropic.com: errors).
    var anthropicType: String {
        switch self.status.code {
        case 400, 405, 408: return "invalid_request_error"
        case 401: return "authentication_error"
        case 403: return "permission_error"
        case 404: return "not_found_error"
        case 413: return "request_too_large"
        case 429: return "rate_limit_error"
        case 503, 529: return "overloaded_error"
        default: return "api_error"
        }
    }

    /// Renders the JSON body. Hand-written: the error path must not depend on Foundation's encoder.
    public func body(allocator: ByteBufferAllocator = ByteBufferAllocator()) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: 96 + self.message.utf8.count)
        buffer.writeStaticString("{\"error\":{\"message\":")
        buffer.writeJSONString(self.message)
        buffer.writeStaticString(",\"type\":")
        buffer.writeJSONString(self.type)
        buffer.writeStaticString(",\"param\":")
        if let param = self.param {
            buffer.writeJSONString(param)
        } else {
            buffer.writeStaticString("null")
        }
        buffer.writeStaticString(",\"code\":")
        buffer.writeJSONString(self.code.rawValue)
        buffer.writeStaticString("}}\n")
        return buffer
    }
}

extension OpenAIError {
    static func invalidRequest(
        _ message: String,
        code: Code,
        status: HTTPResponseStatus = .badRequest,
        param: String? = nil
    ) -> OpenAIError {
        OpenAIError(status: status, type: "invalid_request_error", code: code, message: message, param: param)
    }

    static func modelNotFound(_ model: String) -> OpenAIError {
        .invalidRequest(
            "The model '\(LoggedValue.capped(model))' does not exist or you do not have access to it.",
            code: .modelNotFound,
            status: .notFound,
            param: "model"
        )
    }

    static func routeNotServed(model: String, route: String) -> OpenAIError {
        .invalidRequest(
            "The model '\(LoggedValue.capped(model))' is not configured for /\(route).",
            code: .unsupportedRouteForModel,
            status: .notFound,
            param: "model"
        )
    }

    static func unknownRoute(_ path: String) -> OpenAIError {
        .invalidRequest("Unknown request URL: \(LoggedValue.capped(path)).", code: .unknownURL, status: .notFound)
    }

    static func methodNotAllowed(method: String, path: String, allowed: String) -> OpenAIError {
        OpenAIError(
            status: .methodNotAllowed,
            type: "invalid_request_error",
            code: .methodNotAllowed,
            message: "Method \(method) is not allowed for \(LoggedValue.capped(path)); use \(allowed).",
            headers: [("Allow", allowed)]
        )
    }

    static func bodyTooLarge(limit: Int) -> OpenAIError {
        .invalidRequest(
            "The request body is larger than the limit of \(limit) bytes.",
            code: .requestTooLarge,
            status: .payloadTooLarge
        )
    }

    static let malformedHTTP = OpenAIError.invalidRequest("Malformed HTTP request.", code: .badHTTPRequest)

    /// An id foap cannot route: its trailer does not verify (damaged, forged, another fleet's), no model the key may use
    /// is served by the upstream it names, or it has no trailer and no `?model=` hint. Never a guess.
    static let unknownID = OpenAIError.invalidRequest(
        "No such object: the id is not one this gateway handed out, or its upstream is no longer configured.",
        code: .unknownID, status: .notFound)

    /// The upstream an id belongs to cannot be reached: the request is not sent elsewhere (the state is there).
    static func pinnedUpstreamUnavailable(model: String) -> OpenAIError {
        OpenAIError(
            status: .serviceUnavailable, type: "server_error", code: .pinnedUpstreamUnavailable,
            message: "The upstream of model '\(LoggedValue.capped(model))' that holds this id cannot be reached; "
                + "retry shortly.",
            headers: [("x-should-retry", "true"), ("retry-after", "1")])
    }

    /// An id the request brings back lives on another upstream than the one the request must go to (the model's,
    /// or the object's the path names): objects on different boxes cannot refer to each other.
    static func idFromAnotherUpstream(model: String) -> OpenAIError {
        .invalidRequest(
            "An id in the request was made by an upstream that this request cannot go to (model '\(model)'), "
                + "or one no longer configured.",
            code: .unknownID, status: .notFound)
    }

    /// RFC 9112 §3.2: a server must answer 400 to an HTTP/1.1 request without exactly one `Host` header.
    static let invalidHost = OpenAIError.invalidRequest(
        "An HTTP/1.1 request must carry exactly one Host header.", code: .badHTTPRequest)

    static func bodyTimeout(seconds: Double) -> OpenAIError {
        .invalidRequest(
            "The request body stopped arriving: no bytes for \(formatSeconds(seconds)) s.",
            code: .requestTimeout,
            status: .requestTimeout
        )
    }

    static func invalidMultipart(_ message: String) -> OpenAIError {
        .invalidRequest(message, code: .invalidMultipart)
    }

    static let duplicateMultipartModel = OpenAIError.invalidMultipart(
        "The multipart body has more than one 'model' field.")

    static let malformedMultipart = OpenAIError.invalidMultipart("The multipart request body is malformed.")

    static let ambiguousMultipartBoundary = OpenAIError.invalidMultipart(
        "A multipart/form-data Content-Type must name exactly one boundary, of 1 to "
            + "\(MultipartHeaderReading.maximumBoundaryLength) characters, without backslash escapes.")

    static let ambiguousMultipartPart = OpenAIError.invalidMultipart(
        "A multipart part's Content-Disposition must be one unfolded header line with at most one 'name' parameter "
            + "(no 'name*', no backslash escapes).")

    static let repeatedContentType = OpenAIError.invalidRequest(
        "The request carries more than one Content-Type header.", code: .badHTTPRequest)

    static func multipartModelTooLate(limit: Int) -> OpenAIError {
        .invalidMultipart(
            "The 'model' field must come before the file parts (within the first \(limit) bytes of the body).")
    }

    static func invalidFileID(_ id: String) -> OpenAIError {
        .invalidRequest("'\(LoggedValue.capped(id))' is not a valid file id.", code: .invalidFileID, param: "file_id")
    }

    // The upstream failures name the model the client asked for, never the upstream's address: that is the
    // operator's network, and the access record and the log line carry it.

    static func upstreamUnreachable(model: String) -> OpenAIError {
        OpenAIError(
            status: .badGateway,
            type: "server_error",
            code: .upstreamUnreachable,
            message: "The upstream of model '\(LoggedValue.capped(model))' could not be reached."
        )
    }

    static func upstreamFailed(model: String) -> OpenAIError {
        OpenAIError(
            status: .badGateway,
            type: "server_error",
            code: .upstreamError,
            message: "The upstream of model '\(LoggedValue.capped(model))' failed or did not answer with valid HTTP."
        )
    }

    static func upstreamTimeout(model: String, seconds: Double) -> OpenAIError {
        OpenAIError(
            status: .gatewayTimeout,
            type: "server_error",
            code: .upstreamTimeout,
            message: "The upstream of model '\(LoggedValue.capped(model))' did not answer within "
                + "\(formatSeconds(seconds)) s."
        )
    }

    static func credentialMissing(provider: String, variable: String) -> OpenAIError {
        OpenAIError(
            status: .serviceUnavailable,
            type: "server_error",
            code: .upstreamKeyMissing,
            message: "The gateway has no API key for provider '\(provider)': the variable \(variable) is not set."
        )
    }

    static func noHealthyUpstream(model: String, route: String) -> OpenAIError {
        OpenAIError(
            status: .serviceUnavailable,
            type: "server_error",
            code: .noHealthyUpstream,
            message: "Every upstream of model '\(model)' for \(route) is cooling down after failures or rate-limited; retry shortly."
        )
    }

    static let shuttingDown = OpenAIError(
        status: .serviceUnavailable,
        type: "server_error",
        code: .shuttingDown,
        message: "The gateway is shutting down; retry the request."
    )
}

private func formatSeconds(_ seconds: Double) -> String {
    seconds == seconds.rounded() ? String(Int(seconds)) : String(seconds)
}
