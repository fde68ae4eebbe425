import AsyncHTTPClient
import FOAPConfig
import NIOHTTP1

/// The upstream `POST` requests of a config snapshot, parsed once.
///
/// Building an `HTTPClient.Request` from a string parses the URL with Foundation and splits it into scheme, host,
/// port and path (~17,000 instructions per forwarded request in bench/profile). The URLs never change while a
/// worker lives, so each is parsed once here and a request only copies its template and sets headers and body.
struct UpstreamRequestTemplates: Sendable {
    private let templates: [String: HTTPClient.Request]
    /// Every endpoint upstream's plain-HTTP URL split for the pooled client (Upstream/), by base URL and path: found
    /// without building the URL (two string appends, ~1,700 instructions per request in bench/profile).
    private let plainTargets: [PlainTargetKey: PlainUpstreamTarget]

    /// The same targets by endpoint (`EndpointConfig.identity`) and upstream index: found without hashing a string.
    private let plainTargetsByEndpoint: [ObjectIdentifier: [PlainUpstreamTarget?]]

    private struct PlainTargetKey: Hashable {
        var baseURL: String
        var path: String
    }

    init(snapshot: ConfigSnapshot) {
        var templates: [String: HTTPClient.Request] = [:]
        var plainTargets: [PlainTargetKey: PlainUpstreamTarget] = [:]
        var byEndpoint: [ObjectIdentifier: [PlainUpstreamTarget?]] = [:]
        var slots: [UpstreamPool.Key: Int] = [:]
        for model in snapshot.models {
            for endpoint in model.endpoints {
                var targets: [PlainUpstreamTarget?] = []
                for (index, upstream) in endpoint.upstreams.enumerated() {
                    let key = PlainTargetKey(baseURL: upstream.baseURL, path: endpoint.upstreamPath)
                    if plainTargets[key] == nil, var target = PlainUpstreamTarget(url: endpoint.upstreamURL(index)) {
                        target.slot = slots[target.key] ?? slots.count
                        slots[target.key] = target.slot
                        plainTargets[key] = target
                    }
                    targets.append(plainTargets[key])
                }
                byEndpoint[endpoint.identity] = targets
                let url = endpoint.upstreamURL
                guard templates[url] == nil, let request = try? HTTPClient.Request(url: url, method: .POST) else {
                    continue
                }
                templates[url] = request
            }
        }
        self.templates = templates
        self.plainTargets = plainTargets
        self.plainTargetsByEndpoint = byEndpoint
    }

    /// Where upstream `index` of `endpoint` goes, followed by `suffix` (the file id of image data, the rest of a
    /// call by id): precomputed for the snapshot's endpoints, else parsed now; nil for HTTPS.
    func plainTarget(endpoint: EndpointConfig, upstream index: Int, suffix: String) -> PlainUpstreamTarget? {
        if suffix.isEmpty, let targets = self.plainTargetsByEndpoint[endpoint.identity], index < targets.count {
            return targets[index]
        }
        let key = PlainTargetKey(baseURL: endpoint.upstreams[index].baseURL, path: endpoint.upstreamPath)
        if suffix.isEmpty, let target = self.plainTargets[key] {
            return target
        }
        return PlainUpstreamTarget(url: endpoint.upstreamURL(index) + suffix)
    }

    /// A `POST` to `url` with `headers` and `body`, from the template when there is one, else parsed now.
    func post(url: String, headers: HTTPHeaders, body: HTTPClient.Body?) throws -> HTTPClient.Request {
        guard var request = self.templates[url] else {
            return try HTTPClient.Request(url: url, method: .POST, headers: headers, body: body)
        }
        request.headers = headers
        request.body = body
        return request
    }
}
