/// Where the upstream end of a WebSocket tunnel connects: an upstream URL split like ``PlainUpstreamTarget``, for
/// `https` too (the tunnel owns its TLS; AsyncHTTPClient cannot hand over a connection after a `101`).
struct SocketTarget: Sendable, Equatable {
    var endpoint: PlainUpstreamTarget
    var usesTLS: Bool

    init?(url: String) {
        let scheme = url.prefix { $0 != ":" }.lowercased()
        guard url.dropFirst(scheme.count).hasPrefix("://") else { return nil }
        let rest = url.dropFirst(scheme.count + 3)
        switch scheme {
        case "http":
            guard let endpoint = PlainUpstreamTarget(afterScheme: rest, defaultPort: 80) else { return nil }
            (self.endpoint, self.usesTLS) = (endpoint, false)
        case "https":
            guard let endpoint = PlainUpstreamTarget(afterScheme: rest, defaultPort: 443) else { return nil }
            (self.endpoint, self.usesTLS) = (endpoint, true)
        default:
            return nil
        }
    }

    /// The TLS server name: the host, unless it is an IP address (SNI carries names only, RFC 6066 §3).
    var serverName: String? {
        let host = self.endpoint.host
        let isIPv4 = host.split(separator: ".").count == 4 && host.allSatisfy { $0 == "." || $0.isNumber }
        return isIPv4 || host.contains(":") ? nil : host
    }
}
