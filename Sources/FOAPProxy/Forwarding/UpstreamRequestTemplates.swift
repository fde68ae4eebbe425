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
    /// The plain-HTTP ones split for the pooled client (Upstream/).
    private let plainTargets: [String: PlainUpstreamTarget]

    init(snapshot: ConfigSnapshot) {
        var templates: [String: HTTPClient.Request] = [:]
        var plainTargets: [String: PlainUpstreamTarget] = [:]
        for model in snapshot.models {
            for endpoint in model.endpoints {
                let url = endpoint.upstreamURL
                if plainTargets[url] == nil, let target = PlainUpstreamTarget(url: url) {
                    plainTargets[url] = target
                }
                guard templates[url] == nil, let request = try? HTTPClient.Request(url: url, method: .POST) else {
                    continue
                }
                templates[url] = request
            }
        }
        self.templates = templates
        self.plainTargets = plainTargets
    }

    /// Where a plain-HTTP `url` goes, precomputed for the snapshot's endpoint URLs, else parsed now (image data
    /// URLs end with a file id); nil for HTTPS.
    func plainTarget(url: String) -> PlainUpstreamTarget? {
        self.plainTargets[url] ?? PlainUpstreamTarget(url: url)
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
