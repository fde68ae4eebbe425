#if canImport(Glibc)
import Glibc
#endif
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOExtras
import NIOHTTP1
import NIOPosix

/// Where a worker accepts connections.
public enum ListenerSource: Sendable {
    /// Bind a fresh socket (single-process mode and tests). Port 0 picks a free port.
    case bind(host: String, port: Int)
    /// Accept on listening sockets inherited from the master (or systemd). They stay shared with other
    /// processes, so they are never shut down here, only this process's copy is closed.
    case inherited(descriptors: [CInt], backlog: CInt)
}

/// The worker's HTTP server: accepts on its listeners, serves each connection with `ProxyConnectionHandler`,
/// and drains gracefully on request.
public final class ProxyServer: Sendable {
    private let engine: ProxyEngine
    private let group: EventLoopGroup
    private let state = NIOLockedValueBox<[Listener]>([])

    private struct Listener {
        var channel: Channel
        var quiescing: ServerQuiescingHelper
    }

    public init(engine: ProxyEngine, group: EventLoopGroup) {
        self.engine = engine
        self.group = group
    }

    /// Starts accepting. Returns the addresses bound (for `.bind` with port 0: the chosen port).
    public func start(_ source: ListenerSource) async throws -> [SocketAddress] {
        var listeners: [Listener] = []
        switch source {
        case .bind(let host, let port):
            let quiescing = ServerQuiescingHelper(group: self.group)
            let channel = try await self.makeBootstrap(quiescing)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .serverChannelOption(.backlog, value: 4096)
                .bind(host: host, port: port).get()
            listeners.append(Listener(channel: channel, quiescing: quiescing))
        case .inherited(let descriptors, let backlog):
            for descriptor in descriptors {
                let quiescing = ServerQuiescingHelper(group: self.group)
                let channel = try await self.makeBootstrap(quiescing).withBoundSocket(descriptor).get()
                // NIO calls listen(fd, 128) on the socket it adopts; the socket is shared by every generation, so
                // restore the master's backlog (pitfalls.md).
                _ = listen(descriptor, backlog)
                listeners.append(Listener(channel: channel, quiescing: quiescing))
            }
        }
        self.state.withLockedValue { $0.append(contentsOf: listeners) }
        return listeners.compactMap { $0.channel.localAddress }
    }

    /// Stops accepting, lets in-flight requests and streams finish, closes keep-alive connections gracefully,
    /// and returns when every connection is closed. Bound it with a deadline: a stream can run for minutes.
    /// - Parameter listenersClosed: called once this process no longer accepts (its listener copies are closed),
    ///   which is when the master may report a reload done.
    public func drain(listenersClosed: @escaping @Sendable () -> Void = {}) async {
        // Taken out of the server: a quiescing helper touches its event loop when it is deallocated, so it must
        // not outlive the drain into the event loop group's shutdown.
        let listeners = self.state.withLockedValue { state in
            defer { state = [] }
            return state
        }
        await withTaskGroup(of: Void.self) { group in
            var promises: [EventLoopFuture<Void>] = []
            for listener in listeners {
                let promise = listener.channel.eventLoop.makePromise(of: Void.self)
                listener.quiescing.initiateShutdown(promise: promise)
                promises.append(promise.futureResult)
            }
            group.addTask {
                for listener in listeners {
                    try? await listener.channel.closeFuture.get()
                }
                listenersClosed()
            }
            for future in promises {
                group.addTask { try? await future.get() }
            }
        }
    }

    /// Closes every listener now (in-flight connections are left to `drain` or process exit).
    public func closeListeners() async {
        let listeners = self.state.withLockedValue { $0 }
        for listener in listeners {
            try? await listener.channel.close()
        }
    }

    private func makeBootstrap(_ quiescing: ServerQuiescingHelper) -> ServerBootstrap {
        let engine = self.engine
        return ServerBootstrap(group: self.group)
            .serverChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    // At the fd limit the listener would spin on accept (see AcceptBackoff).
                    try pipeline.addHandler(AcceptBackoff(logger: engine.logger, metrics: engine.metrics))
                    try pipeline.addHandler(quiescing.makeServerChannelHandler(channel: channel))
                }
            }
            // `.tcpOption`, not `.socketOption`: the latter sets level SOL_SOCKET, where option 1 is SO_DEBUG, which
            // fails with EACCES for any non-root user (DynamicUser=yes) and NIO then drops every accepted connection.
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    // One handler: it parses the requests (`HTTPRequestParser`) and encodes the answers
                    // (`ResponseOutput`).
                    try channel.pipeline.syncOperations.addHandler(ProxyConnectionHandler(engine: engine))
                }
            }
    }
}
