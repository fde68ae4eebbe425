import NIOCore
import NIOHTTP1
import NIOPosix

/// Idle keep-alive connections to plain-HTTP upstreams, for one event loop.
///
/// The worker's hot path forwards a request on the client connection's own loop, so each loop has its own pool
/// and nothing here locks: every method must run on `eventLoop` (asserted). Idle connections are kept per
/// host:port in a stack — the most recently used one is taken first, so the rest age out under light load — and
/// closed after `idleTimeout` by one sweep timer per pool (not one timer per connection: scheduling costs more
/// than the request it would serve).
///
/// `@unchecked Sendable`: the engine (Sendable) holds one per loop and hands it only to code on that loop.
final class UpstreamPool: @unchecked Sendable {
    struct Key: Hashable, Sendable {
        var host: String
        var port: Int
    }

    let eventLoop: EventLoop
    private let idleTimeout: TimeAmount
    private let connectTimeout: TimeAmount
    private let maxIdlePerKey: Int
    /// Given to every connection's relay: requests are flushed together at the end of the loop's batch of events.
    private let flushBatch: LoopFlushBatch?
    private var idle: [Key: IdleStack] = [:]
    /// The same stacks by the slot a snapshot's templates gave their host and port (`PlainUpstreamTarget.slot`):
    /// hashing the host `String` on every take and release cost ~1,200 instructions per request in bench/profile.
    /// A stack, once made, stays (emptied, not removed) so that both ways find the same one.
    private var bySlot: [IdleStack?] = []
    private var sweep: Scheduled<Void>?
    private var closed = false

    init(eventLoop: EventLoop, configuration: UpstreamClientConfiguration, flushBatch: LoopFlushBatch? = nil) {
        self.eventLoop = eventLoop
        self.flushBatch = flushBatch
        self.idleTimeout = configuration.idleConnectionTimeout
        self.connectTimeout = configuration.connectTimeout
        self.maxIdlePerKey = max(1, configuration.maxConnectionsPerHost)
    }

    /// The most recently released live connection for `target`'s host and port, if any; dead ones found on the
    /// way are dropped.
    func takeIdle(_ target: PlainUpstreamTarget) -> UpstreamConnection? {
        self.eventLoop.assertInEventLoop()
        guard let stack = self.stack(target.key, slot: target.slot) else { return nil }
        while let connection = stack.pop() {
            if connection.isActive {
                return connection
            }
        }
        return nil
    }

    /// Puts a connection whose last response ended cleanly back for the next request, or closes it.
    func release(_ connection: UpstreamConnection) {
        self.eventLoop.assertInEventLoop()
        connection.relay.call = nil
        let stack = self.stack(connection.key, slot: connection.slot)
        guard !self.closed, connection.isActive, (stack?.connections.count ?? 0) < self.maxIdlePerKey else {
            connection.close()
            return
        }
        connection.idleSince = .now()
        if let stack {
            stack.push(connection)
        } else {
            let stack = IdleStack(connection)
            self.changeIdle { $0[connection.key] = stack }
            if let slot = connection.slot {
                self.remember(stack, at: slot)
            }
        }
        if self.sweep == nil {
            self.scheduleSweep(at: connection.idleSince + self.idleTimeout)
        }
    }

    /// Runs `body` on the idle stacks moved out of the pool, then moves them back.
    ///
    /// A dictionary lookup or insertion calls code the optimizer cannot see through; inside an access to the
    /// stored property, one such call anywhere keeps a runtime exclusivity check on every access to it (~70
    /// instructions each in bench/profile). The pool's collections are only swapped, loaded and stored, so the
    /// whole-module optimizer drops their checks.
    @inline(__always)
    private func changeIdle<Result>(_ body: (inout [Key: IdleStack]) -> Result) -> Result {
        var idle: [Key: IdleStack] = [:]
        swap(&idle, &self.idle)
        defer { swap(&idle, &self.idle) }
        return body(&idle)
    }

    /// The stack of `key`, by its slot when it has one.
    private func stack(_ key: Key, slot: Int?) -> IdleStack? {
        if let slot, slot < self.bySlot.count, let stack = self.bySlot[slot] {
            return stack
        }
        guard let stack = self.changeIdle({ $0[key] }) else { return nil }
        if let slot {
            self.remember(stack, at: slot)
        }
        return stack
    }

    private func remember(_ stack: IdleStack, at slot: Int) {
        var bySlot: [IdleStack?] = []
        swap(&bySlot, &self.bySlot)
        if slot >= bySlot.count {
            bySlot.append(contentsOf: repeatElement(nil, count: slot + 1 - bySlot.count))
        }
        bySlot[slot] = stack
        swap(&bySlot, &self.bySlot)
    }

    /// Opens a new connection on this loop; `completion` runs on this loop.
    func connect(
        _ target: PlainUpstreamTarget,
        _ completion: @escaping (Result<UpstreamConnection, Error>) -> Void
    ) {
        self.eventLoop.assertInEventLoop()
        let key = target.key
        let slot = target.slot
        ClientBootstrap(group: self.eventLoop)
            .connectTimeout(self.connectTimeout)
            // `.tcpOption`, not `.socketOption`: see ProxyServer (the latter would set SO_DEBUG).
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            // Unwritable from the moment a request is queued until its last byte is with the kernel: `isWritable`
            // then says whether the request went out whole (see `UpstreamRelayHandler.send`).
            .channelOption(.writeBufferWaterMark, value: UpstreamRelayHandler.waterMark)
            .channelInitializer { [flushBatch] channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(UpstreamRelayHandler(flushBatch: flushBatch))
                }
            }
            .connect(host: target.host, port: target.port)
            .assumeIsolated()
            .whenComplete { result in
                completion(
                    result.flatMap { channel in
                        Result {
                            let relay = try channel.pipeline.syncOperations.handler(type: UpstreamRelayHandler.self)
                            return UpstreamConnection(key: key, slot: slot, channel: channel, relay: relay)
                        }
                    }
                )
            }
    }

    /// Closes every idle connection and keeps none from now on (worker shutdown).
    func closeAll() {
        self.eventLoop.assertInEventLoop()
        self.closed = true
        self.sweep?.cancel()
        self.sweep = nil
        let stacks = self.idle
        self.idle = [:]
        self.bySlot = []
        for connection in stacks.values.lazy.map({ $0.connections }).joined() {
            connection.close()
        }
    }

    private func scheduleSweep(at deadline: NIODeadline) {
        self.sweep = self.eventLoop.scheduleTask(deadline: deadline) { [weak self] in
            guard let self else { return }
            self.sweep = nil
            self.sweepIdle()
        }
    }

    /// Closes connections idle for longer than the timeout; sleeps again until the oldest remaining one expires.
    private func sweepIdle() {
        let now = NIODeadline.now()
        var oldest: NIODeadline?
        for stack in self.idle.values {
            // Bottom of the stack = least recently used.
            var kept: [UpstreamConnection] = []
            kept.reserveCapacity(stack.connections.count)
            for connection in stack.connections {
                if !connection.isActive {
                    continue
                }
                if connection.idleSince + self.idleTimeout <= now {
                    connection.close()
                } else {
                    kept.append(connection)
                    oldest = min(oldest ?? connection.idleSince, connection.idleSince)
                }
            }
            stack.connections = kept
        }
        if let oldest {
            self.scheduleSweep(at: oldest + self.idleTimeout)
        }
    }
}

/// The idle connections to one host:port, the most recently released last. A class, so that the pool finds a
/// stack with one dictionary lookup and changes it in place: the dictionary's `modify` accessor allocated on
/// every take and release (~1,500 instructions per request in bench/profile).
private final class IdleStack {
    /// Changed in place only by `pop` and `push`, which move it out and back (see `UpstreamPool.changeIdle`); the
    /// sweep replaces it whole.
    var connections: [UpstreamConnection]

    /// The most recently pushed connection.
    func pop() -> UpstreamConnection? {
        var connections: [UpstreamConnection] = []
        swap(&connections, &self.connections)
        defer { swap(&connections, &self.connections) }
        return connections.popLast()
    }

    func push(_ connection: UpstreamConnection) {
        var connections: [UpstreamConnection] = []
        swap(&connections, &self.connections)
        connections.append(connection)
        swap(&connections, &self.connections)
    }

    init(_ connection: UpstreamConnection) {
        self.connections = [connection]
    }
}
