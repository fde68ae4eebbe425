import AsyncHTTPClient
import FOAPConfig
import NIOCore
import NIOHTTP1

/// `GET /health/{model}`: asks each distinct upstream of a model whether it answers, in parallel, each bounded
/// by its endpoint's `health_timeout`, authenticated with the provider's key.
///
/// An upstream is healthy when `GET {base}/v1/models` answers 2xx. The answer lists url, result, HTTP status and
/// latency per upstream — never a key.
struct HealthProbe {
    let engine: ProxyEngine
    let eventLoop: EventLoop

    struct Result {
        var url: String
        var healthy: Bool
        var httpStatus: UInt?
        var latencyMilliseconds: String
        var error: String?
        /// A pooled upstream's passive health in this worker (`healthy`, `cooling_down`, ...); nil outside pools.
        var poolState: UpstreamBalancer.State? = nil
    }

    /// The `anthropic-version` a probe of an `x-api-key` (Anthropic-style) provider sends.
    private static let anthropicVersion = "2023-06-01"

    /// One upstream to ask: its base URL, timeout, key and how the key is sent; plus its pool state when it belongs
    /// to a pool.
    private struct Target {
        var endpoint: EndpointConfig
        var baseURL: String
        var credential: Credential
        var authHeader: UpstreamAuthHeader
        var poolState: UpstreamBalancer.State?
    }

    /// Probes and renders: 200 when every upstream is healthy, 503 otherwise.
    func probe(_ model: ModelConfig) -> EventLoopFuture<(HTTPResponseStatus, ByteBuffer)> {
        var seen = Set<String>()
        var targets: [Target] = []
        let balancers = self.engine.balancers(for: self.eventLoop)
        let now = NIODeadline.now()
        for endpoint in model.endpoints {
            let states = endpoint.upstreams.count > 1 ? balancers?.states(model: model.id, endpoint: endpoint, now: now) : nil
            for (index, upstream) in endpoint.upstreams.enumerated() where seen.insert(upstream.baseURL).inserted {
                targets.append(
                    Target(
                        endpoint: endpoint,
                        baseURL: upstream.baseURL,
                        credential: model.credential(of: upstream),
                        authHeader: model.authHeader(of: upstream),
                        poolState: states?[index]
                    )
                )
            }
        }
        let probes = targets.map { target in
            self.probe(
                endpoint: target.endpoint, baseURL: target.baseURL, credential: target.credential,
                authHeader: target.authHeader
            ).map {
                var result = $0
                result.poolState = target.poolState
                return result
            }
        }
        return EventLoopFuture.whenAllSucceed(probes, on: self.eventLoop).map { results in
            let healthy = results.allSatisfy(\.healthy)
            return (healthy ? .ok : .serviceUnavailable, Self.render(model: model.id, healthy: healthy, results))
        }
    }

    /// - Parameter authHeader: how the upstream takes its key: the probe sends it as a forwarded request would
    ///   (`Authorization: Bearer` was sent to every provider, and an `x-api-key` one answered 401: unhealthy).
    private func probe(
        endpoint: EndpointConfig, baseURL: String, credential: Credential, authHeader: UpstreamAuthHeader
    ) -> EventLoopFuture<Result> {
        let started = NIODeadline.now()
        var headers = HTTPHeaders()
        switch credential {
        case .none: break
        case .key(let key):
            headers.add(
                contentsOf: HeaderPolicy.upstreamAddedFields(apiKey: key, contentLength: nil, authHeader: authHeader))
            if authHeader == .xAPIKey {
                // Anthropic's API refuses a request without its version (a client's passes up with its request; the
                // probe has none): the one its API reference names.
                headers.add(name: "anthropic-version", value: Self.anthropicVersion)
            }
        case .missing(let variable):
            return self.eventLoop.makeSucceededFuture(
                Result(
                    url: baseURL,
                    healthy: false,
                    httpStatus: nil,
                    latencyMilliseconds: "0.000",
                    error: "API key variable \(variable) is not set"
                )
            )
        }
        let timeout = TimeAmount.nanoseconds(Int64(endpoint.healthTimeout * 1_000_000_000))
        let request: HTTPClient.Request
        do {
            request = try HTTPClient.Request(url: baseURL + "/v1/models", method: .GET, headers: headers)
        } catch {
            return self.eventLoop.makeSucceededFuture(
                Result(url: baseURL, healthy: false, latencyMilliseconds: "0.000", error: "invalid URL")
            )
        }
        return self.engine.client.execute(
            request: request,
            // `.delegate(on:)`: a connection pinned with `.delegateAndChannel` is closed on release (see startUpstream).
            eventLoop: .delegate(on: self.eventLoop),
            deadline: .now() + timeout,
            logger: self.engine.upstreamLogger
        ).map { response in
            Result(
                url: baseURL,
                healthy: (200..<300).contains(response.status.code),
                httpStatus: response.status.code,
                latencyMilliseconds: AccessRecord.milliseconds(.now() - started),
                error: (200..<300).contains(response.status.code) ? nil : "HTTP \(response.status.code)"
            )
        }.recover { error in
            Result(
                url: baseURL,
                healthy: false,
                httpStatus: nil,
                latencyMilliseconds: AccessRecord.milliseconds(.now() - started),
                error: Self.describe(error)
            )
        }
    }

    private static func describe(_ error: Error) -> String {
        if let error = error as? HTTPClientError, error == .deadlineExceeded { return "timeout" }
        if UpstreamFailure.isUnreachable(error) { return "unreachable" }
        return "request failed"
    }

    private static func render(model: String, healthy: Bool, _ results: [Result]) -> ByteBuffer {
        var body = ByteBuffer()
        body.writeStaticString("{\"status\":")
        body.writeJSONString(healthy ? "ok" : "unhealthy")
        body.writeStaticString(",\"model\":")
        body.writeJSONString(model)
        body.writeStaticString(",\"upstreams\":[")
        for (index, result) in results.enumerated() {
            if index > 0 { body.writeStaticString(",") }
            body.writeStaticString("{\"url\":")
            body.writeJSONString(result.url)
            body.writeStaticString(",\"status\":")
            body.writeJSONString(result.healthy ? "ok" : "error")
            body.writeStaticString(",\"http_status\":")
            body.writeString(result.httpStatus.map { String($0) } ?? "null")
            body.writeStaticString(",\"latency_ms\":")
            body.writeString(result.latencyMilliseconds)
            if let error = result.error {
                body.writeStaticString(",\"error\":")
                body.writeJSONString(error)
            }
            if let state = result.poolState {
                body.writeStaticString(",\"pool_state\":")
                body.writeJSONString(state.label)
                switch state {
                case .coolingDown(let remaining), .rateLimited(let remaining):
                    body.writeStaticString(",\"pool_state_remaining_ms\":")
                    body.writeString(AccessRecord.milliseconds(remaining))
                default:
                    break
                }
            }
            body.writeStaticString("}")
        }
        body.writeStaticString("]}\n")
        return body
    }
}

extension HealthProbe.Result {
    init(url: String, healthy: Bool, latencyMilliseconds: String, error: String?) {
        self.init(url: url, healthy: healthy, httpStatus: nil, latencyMilliseconds: latencyMilliseconds, error: error)
    }
}
