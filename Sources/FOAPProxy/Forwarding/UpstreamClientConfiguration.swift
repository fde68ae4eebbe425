import AsyncHTTPClient
import NIOCore
import NIOSSL

/// How the worker talks to upstreams. One `HTTPClient` per worker, on the worker's own event loops, so a request
/// and its upstream call never change threads.
public struct UpstreamClientConfiguration: Sendable {
    /// Pooled HTTP/1.1 connections per upstream host and event loop. AsyncHTTPClient's default of 8 throttles a
    /// gateway: one slow stream would hold a slot that 8 concurrent chats need.
    public var maxConnectionsPerHost: Int = 1024
    /// How long an unused pooled upstream connection is kept.
    public var idleConnectionTimeout: TimeAmount = .seconds(60)
    /// TCP (and TLS) connect timeout.
    public var connectTimeout: TimeAmount = .seconds(10)
    /// A PEM file of extra CA certificates trusted for HTTPS upstreams (private CAs), on top of the system store.
    public var caBundlePath: String?

    public init() {}

    /// Builds the client. Throws when the CA bundle cannot be read.
    public func makeClient(eventLoopGroup: EventLoopGroup) throws -> HTTPClient {
        var configuration = HTTPClient.Configuration(
            tlsConfiguration: try self.tlsConfiguration(),
            redirectConfiguration: .disallow,
            timeout: .init(connect: self.connectTimeout),
            connectionPool: .init(
                idleTimeout: self.idleConnectionTimeout,
                concurrentHTTP1ConnectionsPerHostSoftLimit: self.maxConnectionsPerHost
            ),
            ignoreUncleanSSLShutdown: false,
            decompression: .disabled
        )
        configuration.httpVersion = .http1Only
        // foap bootstraps no tracer, yet AsyncHTTPClient's default (the global no-op tracer) still builds a span and
        // its attributes per request: about 29,000 instructions of the profiled proxied request. No tracer, no span.
        configuration.tracing.tracer = nil
        // A refused or untrusted upstream must surface as a 502 now, not be retried silently until the request
        // timeout turns it into a misleading 504.
        configuration.connectionPool.retryConnectionEstablishment = false
        return HTTPClient(eventLoopGroupProvider: .shared(eventLoopGroup), configuration: configuration)
    }

    /// The same trust for the WebSocket tunnels' own TLS connections (WebSocket/).
    func makeTLSContext() throws -> NIOSSLContext {
        var tls = try self.tlsConfiguration()
        tls.applicationProtocols = ["http/1.1"]
        return try NIOSSLContext(configuration: tls)
    }

    private func tlsConfiguration() throws -> TLSConfiguration {
        var tls = TLSConfiguration.makeClientConfiguration()
        if let caBundlePath {
            let certificates = try NIOSSLCertificate.fromPEMFile(caBundlePath)
            tls.additionalTrustRoots = [.certificates(certificates)]
        }
        return tls
    }
}
