import FOAPConfig
import FOAPHTTP1
import NIOHTTP1

/// What a request asks for, decided from its method and path alone (before any body is read).
public enum Route: Sendable, Equatable {
    /// A POST to an OpenAI route that is forwarded by the body's `model`; `path` has no leading slash.
    case forward(path: String)
    case listModels
    case retrieveModel(id: String)
    case imageData(model: String, fileID: String)
    /// An object an upstream keeps, by id: `GET /v1/responses/{id}`, `POST /v1/batches/{id}/cancel`, … (`suffix` is
    /// `""` or `/cancel`, `/input_items`, … as ``IDFamily/methods(after:)`` allows).
    case byID(IDFamily, id: String, suffix: String)
    /// `GET /v1/files`, `GET /v1/batches`: the list one upstream keeps.
    case list(IDFamily)
    /// A `GET` that asks to become a WebSocket tunnelled to the model's upstream: `/v1/realtime?model=…`.
    case webSocket(WebSocketRoute)
    case health
    case modelHealth(model: String)
    /// Prometheus metrics of every worker of the generation, summed by the master.
    case metrics
    case rejected(OpenAIError)

    /// The routes whose body names the model: every `path` a config may list except `v1/images/data` and the
    /// WebSocket routes.
    public static let forwardedPaths: Set<String> = Set(ConfigLoader.supportedPaths)
        .subtracting(["v1/images/data", WebSocketRoute.realtime.endpointPath])

    /// Routes a request. Model ids in the path may contain `/` and percent-escapes.
    /// - Parameters:
    ///   - method: the request method.
    ///   - uri: the request target as sent (`/v1/models/x?y=z`); the query string is ignored here.
    public static func resolve(method: HTTPMethod, uri: String) -> Route {
        // Byte-wise throughout: `String`'s own `hasPrefix`, `count` and `firstIndex(where:)` walk Unicode
        // characters, which made routing ~10,000 instructions per request in bench/profile.
        if method.isPOST, let forwarded = ForwardedRouteTable.shared.entry(forTarget: uri) {
            return .forward(path: forwarded.path)  // the table's string: nothing allocated
        }
        let path = Self.pathPart(of: uri)
        let withoutSlash = Self.withoutLeadingSlash(path)
        let trimmed = String(withoutSlash)
        let isGet = method.isGET || method.isHEAD

        if Self.forwardedPaths.contains(trimmed) {
            let listable = IDFamily(rawValue: trimmed).map(\.isListable) ?? false
            if listable, isGet, let family = IDFamily(rawValue: trimmed) {
                return .list(family)
            }
            return .notAllowed(method, path, allowed: listable ? "GET, POST" : "POST")
        }
        if trimmed == WebSocketRoute.realtime.endpointPath {
            return method.isGET ? .webSocket(.realtime) : .notAllowed(method, path, allowed: "GET")
        }
        if trimmed == "v1/models" {
            return isGet ? .listModels : .notAllowed(method, path, allowed: "GET")
        }
        if trimmed == "health" {
            return isGet ? .health : .notAllowed(method, path, allowed: "GET")
        }
        if trimmed == "metrics" {
            return isGet ? .metrics : .notAllowed(method, path, allowed: "GET")
        }
        if let id = Self.suffix(of: trimmed, after: "v1/models/") {
            return isGet ? .retrieveModel(id: id) : .notAllowed(method, path, allowed: "GET")
        }
        if let id = Self.suffix(of: trimmed, after: "health/") {
            return isGet ? .modelHealth(model: id) : .notAllowed(method, path, allowed: "GET")
        }
        for family in IDFamily.allCases {
            if let rest = Self.suffix(of: trimmed, after: family.path + "/") {
                return Self.byID(family, rest, method: method, path: path)
            }
        }
        if trimmed.utf8.starts(with: "v1/images/data/".utf8) {
            // The file id is the last raw segment; everything before it is the model id (which may hold "/").
            // Split before percent-decoding, so an escaped "/" inside the file id stays part of it.
            let rest = trimmed.dropFirst("v1/images/data/".count)
            guard let slash = rest.lastIndex(of: "/"), slash != rest.startIndex,
                rest.index(after: slash) != rest.endIndex
            else {
                return .rejected(.unknownRoute(path))
            }
            let rawModel = rest[..<slash]
            let rawFileID = rest[rest.index(after: slash)...]
            let model = Self.percentDecoded(rawModel) ?? String(rawModel)
            let fileID = Self.percentDecoded(rawFileID) ?? String(rawFileID)
            return isGet ? .imageData(model: model, fileID: fileID) : .notAllowed(method, path, allowed: "GET")
        }
        return .rejected(.unknownRoute(path))
    }

    /// `{family}/{id}[/{call}]` with the methods each call allows.
    private static func byID(_ family: IDFamily, _ rest: String, method: HTTPMethod, path: String) -> Route {
        let parts = rest.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let id = parts.first, !id.isEmpty else { return .rejected(.unknownRoute(path)) }
        var call = parts.count == 2 ? String(parts[1]) : ""
        // One item of a conversation: `items/{item}` (the conversation's id routes it; item ids carry no trailer).
        var item: String?
        if family == .conversations, call.utf8.starts(with: "items/".utf8) {
            let rest = call.dropFirst("items/".count)
            guard !rest.isEmpty, !rest.contains("/") else { return .rejected(.unknownRoute(path)) }
            (item, call) = (String(rest), IDFamily.itemCall)
        }
        // `.` and `..` (already percent-decoded, as `%2E%2E` arrives) would be resolved as path steps by the upstream
        // (or a proxy before it), reaching other paths on the provider's key; no object has such an id.
        let isDotSegment = { (segment: Substring) in segment == "." || segment == ".." }
        if isDotSegment(id) || item.map({ isDotSegment(Substring($0)) }) ?? false {
            return .rejected(.unknownID)
        }
        guard let methods = family.methods(after: call) else { return .rejected(.unknownRoute(path)) }
        guard methods.contains(method.isHEAD ? .GET : method) else {
            return .notAllowed(method, path, allowed: methods.map(\.rawValue).joined(separator: ", "))
        }
        if let item {
            return .byID(family, id: String(id), suffix: "/items/" + item.addingPathPercentEncoding())
        }
        return .byID(family, id: String(id), suffix: call.isEmpty ? "" : "/" + call)
    }

    /// A short, bounded label for logs ("v1/chat/completions", "v1/models/{model}", …): never the raw id.
    public var label: String {
        switch self {
        case .forward(let path): return path
        case .listModels: return "v1/models"
        case .retrieveModel: return "v1/models/{model}"
        case .imageData: return "v1/images/data/{model}/{file_id}"
        case .byID(let family, _, let suffix):
            // Never an item id either: `/items/{item}`.
            let call = suffix.utf8.starts(with: "/items/".utf8) ? "/" + IDFamily.itemCall : suffix
            return family.path + "/{id}" + call
        case .list(let family): return family.path
        case .webSocket(let socket): return socket.label
        case .health: return "health"
        case .modelHealth: return "health/{model}"
        case .metrics: return "metrics"
        case .rejected: return "-"
        }
    }

    private static func notAllowed(_ method: HTTPMethod, _ path: String, allowed: String) -> Route {
        .rejected(.methodNotAllowed(method: method.rawValue, path: path, allowed: allowed))
    }

    static func pathPart(of uri: String) -> String {
        if let query = uri.firstUTF8Index(where: { $0 == UInt8(ascii: "?") || $0 == UInt8(ascii: "#") }) {
            return String(uri[..<query])
        }
        return uri
    }

    /// The percent-decoded remainder of `path` after `prefix`, or nil when it does not start so or is empty.
    private static func suffix(of path: String, after prefix: String) -> String? {
        guard path.utf8.count > prefix.utf8.count, path.utf8.starts(with: prefix.utf8) else { return nil }
        let raw = Substring(path.utf8.dropFirst(prefix.utf8.count))
        return Self.percentDecoded(raw) ?? String(raw)
    }

    /// Decodes `%XX` escapes (model ids like `org%2Fmodel` sent by clients that escape slashes).
    static func percentDecoded(_ text: Substring) -> String? {
        guard text.utf8.contains(UInt8(ascii: "%")) else { return String(text) }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            guard byte == UInt8(ascii: "%") else {
                bytes.append(byte)
                continue
            }
            guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else {
                return nil
            }
            bytes.append(high << 4 | low)
        }
        return String(validating: bytes, as: UTF8.self)
    }
}

private func hexValue(_ byte: UInt8) -> UInt8? {
    switch byte {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
    default: return nil
    }
}

/// The routes that become a WebSocket tunnelled to one upstream (frames untouched, both ways).
public enum WebSocketRoute: Sendable, CaseIterable {
    /// OpenAI's Realtime API: the model comes from `?model=`; the upstream gets its own name for it there.
    case realtime
    /// The Responses API's WebSocket mode (`GET /v1/responses` upgraded): the model comes from the first
    /// `response.create` message, which goes upstream with its `model` rewritten.
    case responses

    /// The config `path` a model serves it with.
    var endpointPath: String {
        switch self {
        case .realtime: "v1/realtime"
        case .responses: "v1/responses"
        }
    }

    /// The route in records and metrics: the WebSocket mode of `/v1/responses` is not its `POST`.
    var label: String {
        switch self {
        case .realtime: "v1/realtime"
        case .responses: "v1/responses (websocket)"
        }
    }
}

extension Route {
    static func withoutLeadingSlash(_ path: String) -> Substring {
        path.utf8.first == UInt8(ascii: "/") ? Substring(path.utf8.dropFirst()) : Substring(path)
    }

    /// `resolve(_:)` and the route's traits; a forwarded route's come from the table entry that matched (`traits`
    /// would look the path up a second time, ~500 instructions per request in bench/profile).
    static func resolveWithTraits(_ head: HTTPReceivedRequestHead) -> (Route, RouteTraits) {
        if head.method.isPOST, let forwarded = ForwardedRouteTable.shared.entry(forTarget: head.uri) {
            return (.forward(path: forwarded.path), forwarded.traits)
        }
        let route = Self.resolve(head)
        return (route, route.traits)
    }

    /// `Route.resolve(method:uri:)`, plus the WebSocket mode of `/v1/responses`, recognised by its handshake.
    static func resolve(_ head: HTTPReceivedRequestHead) -> Route {
        let route = Route.resolve(method: head.method, uri: head.uri)
        if head.method.isGET, case .rejected = route, head.fields.contains(name: "upgrade"),
            Route.pathPart(of: head.uri) == "/" + WebSocketRoute.responses.endpointPath,
            WebSocketHandshake.isUpgrade(head.httpRequestHead)
        {
            return .webSocket(.responses)
        }
        return route
    }
}
