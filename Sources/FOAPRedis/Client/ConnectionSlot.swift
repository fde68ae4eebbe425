import NIOCore
import NIOSSL

/// The connection of one event loop, with its state only ever touched on that loop (so no locks): connected,
/// connecting (calls wait for it), or waiting out a backoff after a failed attempt (calls fail at once).
final class ConnectionSlot: Sendable {
    private enum State: Sendable {
        case idle
        case connecting(EventLoopFuture<RedisConnection>)
        case connected(RedisConnection)
        case waiting(reason: String, retry: Scheduled<Void>)
        case shutDown
    }

    let eventLoop: any EventLoop
    private let configuration: RedisConfiguration
    private let sslContext: NIOSSLContext?
    private let backoff: RedisBackoff
    private let state: NIOLoopBoundBox<State>
    private let failures: NIOLoopBoundBox<Int>

    init(
        eventLoop: any EventLoop,
        configuration: RedisConfiguration,
        sslContext: NIOSSLContext?,
        backoff: RedisBackoff
    ) {
        self.eventLoop = eventLoop
        self.configuration = configuration
        self.sslContext = sslContext
        self.backoff = backoff
        self.state = .makeBoxSendingValue(.idle, eventLoop: eventLoop)
        self.failures = .makeBoxSendingValue(0, eventLoop: eventLoop)
    }

    func send(_ command: RedisCommand, timeout: TimeAmount?) -> EventLoopFuture<RESPValue> {
        self.eventLoop.flatSubmit {
            self.connection().flatMap { $0.send(command, timeout: timeout) }
        }
    }

    /// The live connection, starting one when there is none; on the loop.
    func connection() -> EventLoopFuture<RedisConnection> {
        switch self.state.value {
        case .connected(let connection) where connection.isActive:
            return self.eventLoop.makeSucceededFuture(connection)
        case .idle, .connected:
            return self.connect()
        case .connecting(let future):
            return future
        case .waiting(let reason, _):
            return self.eventLoop.makeFailedFuture(RedisError.unavailable(reason: reason))
        case .shutDown:
            return self.eventLoop.makeFailedFuture(RedisError.shutDown)
        }
    }

    private func connect() -> EventLoopFuture<RedisConnection> {
        let future = RedisConnection.connect(self.configuration, sslContext: self.sslContext, on: self.eventLoop)
        self.state.value = .connecting(future)
        future.hop(to: self.eventLoop).assumeIsolated().whenComplete { result in
            guard case .connecting = self.state.value else {
                // Shut down meanwhile.
                if case .success(let connection) = result {
                    _ = connection.close()
                }
                return
            }
            switch result {
            case .success(let connection):
                self.failures.value = 0
                self.state.value = .connected(connection)
                connection.closeFuture.hop(to: self.eventLoop).assumeIsolated().whenComplete { _ in
                    if case .connected(let current) = self.state.value, current === connection {
                        self.state.value = .idle  // the next call reconnects
                    }
                }
            case .failure(let error):
                self.failures.value += 1
                let delay = self.backoff.delay(afterFailures: self.failures.value)
                let retry = self.eventLoop.assumeIsolated().scheduleTask(in: delay) {
                    if case .waiting = self.state.value {
                        _ = self.connect()
                    }
                }
                self.state.value = .waiting(reason: "\(error)", retry: retry)
            }
        }
        return future
    }

    /// Closes the connection and stops reconnecting; later calls fail with ``RedisError/shutDown``.
    func shutdown() -> EventLoopFuture<Void> {
        self.eventLoop.flatSubmit {
            let previous = self.state.value
            self.state.value = .shutDown
            switch previous {
            case .connected(let connection):
                return connection.close()
            case .connecting(let future):
                return future.flatMap { $0.close() }.recover { _ in }
            case .waiting(_, let retry):
                retry.cancel()
                return self.eventLoop.makeSucceededVoidFuture()
            case .idle, .shutDown:
                return self.eventLoop.makeSucceededVoidFuture()
            }
        }
    }
}
