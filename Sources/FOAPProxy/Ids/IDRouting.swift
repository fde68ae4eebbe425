import FOAPConfig

/// Which upstream an id's trailer names: the tags of every upstream of the config, computed from its stable
/// identity (provider + base URL), so every worker and every instance with the same secret agrees without sharing
/// anything but the secret.
struct IDRouting: Sendable {
    let trailer: IDTrailer

    init(secret: [UInt8]) {
        self.trailer = IDTrailer(secret: secret)
    }

    /// The tag of upstream `index` of `endpoint` (of `model`).
    func tag(model: ModelConfig, endpoint: EndpointConfig, upstream index: Int) -> String {
        let upstream = endpoint.upstreams[index]
        return self.trailer.tag(forUpstream: (upstream.provider ?? model.provider.name) + " " + upstream.baseURL)
    }

    /// The upstream of `endpoint` that `tag` names, if it is one of them.
    func upstream(tagged tag: String, model: ModelConfig, endpoint: EndpointConfig) -> Int? {
        endpoint.upstreams.indices.first { self.tag(model: model, endpoint: endpoint, upstream: $0) == tag }
    }

    /// A model serving `path` on the upstream `tag` names, among those `allowed` (the client key's), and that
    /// upstream's index: for calls that carry only an id.
    func route(tag: String, path: String, in snapshot: ConfigSnapshot, allowed: (String) -> Bool)
        -> (model: ModelConfig, endpoint: EndpointConfig, upstream: Int)?
    {
        for model in snapshot.models where allowed(model.id) {
            guard let endpoint = model.endpoint(for: path),
                let index = self.upstream(tagged: tag, model: model, endpoint: endpoint)
            else { continue }
            return (model, endpoint, index)
        }
        return nil
    }
}
