import AsyncHTTPClient
import FOAPConfig
import FOAPLimits
import Logging
import NIOCore
import NIOSSL

/// Asks for the Prometheus text `GET /metrics` answers; `reply` gets it, or nil when it cannot be had.
public typealias MetricsSource = @Sendable (_ reply: @escaping @Sendable (String?) -> Void) -> Void

/// What every connection of a worker shares, built once from a frozen config snapshot.
///
/// Everything here is immutable (the snapshot never changes in a running worker: new config means new workers),
/// so the hot path reads it without locks.
public final class ProxyEngine: Sendable {
    public let snapshot: ConfigSnapshot
    public let configuration: ProxyConfiguration
    let catalog: ModelCatalog
    /// Client API keys, precomputed from the snapshot (keyless mode when it has none).
    let authenticator: ClientAuthenticator
    let client: HTTPClient
    /// One plain-HTTP upstream pool per event loop of the worker's group (Upstream/UpstreamPool.swift).
    private let upstreamPools: [ObjectIdentifier: UpstreamPool]
    /// The balancers of pooled endpoints, one set per event loop (Balancing/).
    private let loopBalancers: [ObjectIdentifier: LoopBalancers]
    private let loopBuffers: [ObjectIdentifier: BufferRecycler]
    private let loopFlushBatches: [ObjectIdentifier: LoopFlushBatch]
    let imageURLRewriter: ImageURLRewriter
    /// `GET /health`'s answer, with the config digest so a fleet of gateways can be checked for drift.
    let healthBody: ByteBuffer
    /// Every upstream `POST` URL of the snapshot, parsed once.
    let requestTemplates: UpstreamRequestTemplates
    let logger: Logger
    /// One record per request.
    let accessLog: any AccessLogWriter
    /// This worker's request series, reported to the master (Metrics/).
    public let metrics: RequestMetrics
    /// Where `GET /metrics` gets its text: the master's sum over every worker; nil: this process's own.
    let metricsSource: MetricsSource?
    /// Routing by id (the trailers foap puts on the ids upstreams hand out); nil without `FOAP_ID_SECRET`.
    let idRouting: IDRouting?
    /// Per-key limits over the host's shared region; nil when no key has limits (or in keyless mode).
    let limiter: RateLimiter?
    /// Redis/Valkey deciding for the whole fleet (`configuration.limits.fleet`); `limiter` is then its `local`
    /// fallback, built from this host's share of each limit.
    let fleet: FleetLimiter?
    /// TLS for WebSocket tunnels to `https` upstreams; nil when no model serves a WebSocket route over `https`.
    let socketTLS: NIOSSLContext?
    /// AsyncHTTPClient's own records: only its warnings and errors, so its per-request trace never costs anything.
    let upstreamLogger: Logger

    /// - Parameters:
    ///   - snapshot: the validated config this worker serves for its whole life.
    ///   - configuration: limits and upstream settings.
    ///   - eventLoopGroup: the worker's loops; the upstream client runs on the same ones.
    ///   - logger: error records go here, and access records unless `accessLog` is given.
    ///   - accessLog: where access records go; by default `logger` at `info`.
    public init(
        snapshot: ConfigSnapshot,
        configuration: ProxyConfiguration,
        eventLoopGroup: EventLoopGroup,
        logger: Logger,
        accessLog: (any AccessLogWriter)? = nil,
        metrics: RequestMetrics = RequestMetrics(),
        metricsSource: MetricsSource? = nil,
        limiter: RateLimiter? = nil
    ) throws {
        self.limiter = limiter
        self.idRouting = configuration.idSecret.map(IDRouting.init(secret:))
        self.fleet = try configuration.limits.fleet.map {
            try FleetLimiter(
                settings: $0, keys: snapshot.clientKeys, region: limiter?.region, group: eventLoopGroup,
                metrics: metrics, logger: logger)
        }
        self.metrics = metrics
        self.metricsSource = metricsSource
        self.snapshot = snapshot
        self.configuration = configuration
        let catalog = ModelCatalog(snapshot: snapshot)
        self.catalog = catalog
        self.authenticator = ClientAuthenticator(snapshot: snapshot, catalog: catalog)
        self.client = try configuration.upstream.makeClient(eventLoopGroup: eventLoopGroup)
        let socketPaths = Set(WebSocketRoute.allCases.map(\.endpointPath))
        let tunnelsTLS = snapshot.models.contains { model in
            model.endpoints.contains { endpoint in
                socketPaths.contains(endpoint.path)
                    && endpoint.upstreams.contains { $0.baseURL.lowercased().hasPrefix("https:") }
            }
        }
        self.socketTLS = tunnelsTLS ? try configuration.upstream.makeTLSContext() : nil
        var pools: [ObjectIdentifier: UpstreamPool] = [:]
        var loopBalancers: [ObjectIdentifier: LoopBalancers] = [:]
        var loopBuffers: [ObjectIdentifier: BufferRecycler] = [:]
        var loopFlushBatches: [ObjectIdentifier: LoopFlushBatch] = [:]
        for loop in eventLoopGroup.makeIterator() {
            let flushBatch = LoopFlushBatch(eventLoop: loop)
            pools[ObjectIdentifier(loop)] = UpstreamPool(
                eventLoop: loop, configuration: configuration.upstream, flushBatch: flushBatch)
            loopBalancers[ObjectIdentifier(loop)] = LoopBalancers()
            loopBuffers[ObjectIdentifier(loop)] = BufferRecycler()
            loopFlushBatches[ObjectIdentifier(loop)] = flushBatch
        }
        self.upstreamPools = pools
        self.loopBalancers = loopBalancers
        self.loopBuffers = loopBuffers
        self.loopFlushBatches = loopFlushBatches
        self.imageURLRewriter = ImageURLRewriter(baseURL: configuration.baseURL)
        var health = ByteBuffer()
        health.writeStaticString("{\"status\":\"ok\",\"config_digest\":")
        health.writeJSONString(snapshot.sourceDigest)
        health.writeStaticString("}\n")
        self.healthBody = health
        self.requestTemplates = UpstreamRequestTemplates(snapshot: snapshot)
        self.logger = logger
        self.accessLog = accessLog ?? LoggerAccessLogWriter(logger: logger)
        var upstreamLogger = logger
        upstreamLogger.logLevel = max(logger.logLevel, .warning)
        self.upstreamLogger = upstreamLogger
    }

    /// The plain-HTTP upstream pool of `loop`; nil for a loop outside the engine's group (AsyncHTTPClient then).
    func upstreamPool(for loop: EventLoop) -> UpstreamPool? {
        self.upstreamPools[ObjectIdentifier(loop)]
    }

    /// The buffers `loop`'s connections encode into (nil for a loop outside the engine's group); only that loop may
    /// use them.
    func buffers(for loop: EventLoop) -> BufferRecycler? {
        self.loopBuffers[ObjectIdentifier(loop)]
    }

    /// The batch that flushes `loop`'s keep-alive answers and pooled requests together (nil for a loop outside the
    /// engine's group: each is flushed as it is written); only that loop may use it.
    func flushBatch(for loop: EventLoop) -> LoopFlushBatch? {
        self.loopFlushBatches[ObjectIdentifier(loop)]
    }

    /// The balancers of `loop`; only that loop may use them.
    func balancers(for loop: EventLoop) -> LoopBalancers? {
        self.loopBalancers[ObjectIdentifier(loop)]
    }

    /// Stops the upstream clients; call after the server has drained.
    public func shutdown() async throws {
        for pool in self.upstreamPools.values {
            try? await pool.eventLoop.submit { pool.closeAll() }.get()
        }
        try? await self.fleet?.shutdown().get()
        try await self.client.shutdown()
    }

    /// Stops the upstream clients from synchronous code (not on an event loop).
    public func syncShutdown() throws {
        for pool in self.upstreamPools.values {
            try? pool.eventLoop.submit { pool.closeAll() }.wait()
        }
        try? self.fleet?.shutdown().wait()
        try self.client.syncShutdown()
    }
}
