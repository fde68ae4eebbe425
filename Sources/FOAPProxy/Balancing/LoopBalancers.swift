import FOAPConfig
import NIOCore

/// The balancers of one event loop's pooled endpoints, made on first use. Loop-bound: only that loop's
/// connections touch it, so it needs no lock; a worker with several loops keeps one per loop.
///
/// `@unchecked Sendable`: the engine (Sendable) holds one per loop and hands it only to code on that loop, as it does
/// with `UpstreamPool`.
final class LoopBalancers: @unchecked Sendable {
    private struct Key: Hashable {
        var model: String
        var path: String
    }

    private var balancers: [Key: UpstreamBalancer] = [:]

    /// Runs `body` on the balancer of `model`'s `endpoint`.
    func withBalancer<Result>(
        model: String,
        endpoint: EndpointConfig,
        _ body: (inout UpstreamBalancer) throws -> Result
    ) rethrows -> Result {
        // One hash lookup: the dictionary's `default:` subscript hands the stored value to `body` in place.
        try body(&self.balancers[Key(model: model, path: endpoint.path), default: UpstreamBalancer(
            policy: endpoint.policy, weights: endpoint.upstreams.map(\.weight)
        )])
    }

    /// The state of every upstream of `endpoint`, for `/health/{model}`; all healthy before the first request.
    func states(model: String, endpoint: EndpointConfig, now: NIODeadline) -> [UpstreamBalancer.State] {
        self.withBalancer(model: model, endpoint: endpoint) { balancer in
            endpoint.upstreams.indices.map { balancer.state(of: $0, now: now) }
        }
    }
}
