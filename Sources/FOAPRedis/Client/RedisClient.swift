import NIOCore
import NIOPosix
import NIOSSL

/// Redis for a whole event loop group: one pipelined connection per event loop, connected on its first use,
/// replaced when it closes, retried with backoff when connecting fails.
///
/// A call made on one of the group's loops uses that loop's connection, so a proxy's request never hops threads
/// to reach Redis. While a loop is between connections its calls fail at once (``RedisError/unavailable(reason:)``).
public final class RedisClient: Sendable {
    public let configuration: RedisConfiguration
    private let group: any EventLoopGroup
    private let slots: [ObjectIdentifier: ConnectionSlot]

    /// - Throws: when `rediss://`'s TLS configuration cannot make a context (an unreadable certificate).
    public init(
        configuration: RedisConfiguration,
        group: any EventLoopGroup,
        backoff: RedisBackoff = RedisBackoff()
    ) throws {
        let sslContext = configuration.url.usesTLS ? try NIOSSLContext(configuration: configuration.tls) : nil
        var slots: [ObjectIdentifier: ConnectionSlot] = [:]
        for eventLoop in group.makeIterator() {
            slots[ObjectIdentifier(eventLoop)] = ConnectionSlot(
                eventLoop: eventLoop, configuration: configuration, sslContext: sslContext, backoff: backoff
            )
        }
        self.configuration = configuration
        self.group = group
        self.slots = slots
    }

    /// Sends `command` on `eventLoop`'s connection (default: the calling loop's, else any).
    public func send(
        _ command: RedisCommand,
        timeout: TimeAmount? = nil,
        on eventLoop: (any EventLoop)? = nil
    ) -> EventLoopFuture<RESPValue> {
        self.slot(for: eventLoop).send(command, timeout: timeout)
    }

    /// The connection of `eventLoop` (default: the calling loop's, else any), connecting it if needed.
    public func connection(on eventLoop: (any EventLoop)? = nil) -> EventLoopFuture<RedisConnection> {
        let slot = self.slot(for: eventLoop)
        return slot.eventLoop.flatSubmit { slot.connection() }
    }

    /// The loop calls on `eventLoop` use (the calling loop's, else any), for futures that need no connection.
    func connectionEventLoop(_ eventLoop: (any EventLoop)?) -> any EventLoop {
        self.slot(for: eventLoop).eventLoop
    }

    /// Closes every connection and stops reconnecting.
    public func shutdown() -> EventLoopFuture<Void> {
        let eventLoop = self.group.any()
        return EventLoopFuture.andAllComplete(self.slots.values.map { $0.shutdown() }, on: eventLoop)
    }

    private func slot(for eventLoop: (any EventLoop)?) -> ConnectionSlot {
        if let eventLoop, let slot = self.slots[ObjectIdentifier(eventLoop)] {
            return slot
        }
        return self.slots[ObjectIdentifier(self.group.any())] ?? self.slots.values.first!
    }
}
