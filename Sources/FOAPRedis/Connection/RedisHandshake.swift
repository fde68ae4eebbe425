import NIOCore

/// `HELLO 3` with `AUTH` inside it, then `SELECT`; for servers without RESP3 (HELLO unknown before Redis 6, or
/// `NOPROTO`), RESP2's `AUTH` and `SELECT`. A refused password or database is a ``RedisError/handshake(_:)``.
struct RedisHandshake {
    let configuration: RedisConfiguration

    func run(on channel: any Channel) -> EventLoopFuture<RedisConnection> {
        let url = self.configuration.url
        let timeout = self.configuration.connectTimeout
        let resp3 = RedisConnection(
            channel: channel, protocolVersion: 3, defaultTimeout: self.configuration.commandTimeout
        )
        var hello: [any RedisArgument] = ["3"]
        if let password = url.password {
            hello += ["AUTH", url.user ?? "default", password]
        }
        return resp3.send(RedisCommand("HELLO", hello), timeout: timeout).map { _ in resp3 }.flatMapError { error in
            guard Self.lacksRESP3(error) else {
                return channel.eventLoop.makeFailedFuture(Self.handshakeError(error))
            }
            let resp2 = RedisConnection(channel: channel, protocolVersion: 2, defaultTimeout: resp3.defaultTimeout)
            guard let password = url.password else {
                return channel.eventLoop.makeSucceededFuture(resp2)
            }
            let auth = url.user.map { RedisCommand("AUTH", $0, password) } ?? RedisCommand("AUTH", password)
            return resp2.send(auth, timeout: timeout).map { _ in resp2 }
        }.flatMap { connection in
            guard url.database != 0 else {
                return channel.eventLoop.makeSucceededFuture(connection)
            }
            return connection.send(RedisCommand("SELECT", url.database), timeout: timeout).map { _ in connection }
        }.flatMap { connection in
            guard let name = self.configuration.clientName else {
                return channel.eventLoop.makeSucceededFuture(connection)
            }
            return connection.send(RedisCommand("CLIENT", "SETNAME", name), timeout: timeout).map { _ in connection }
        }.flatMapErrorThrowing { error in
            throw Self.handshakeError(error)
        }
    }

    /// `ERR unknown command 'HELLO'` (Redis < 6) or `NOPROTO` (RESP3 switched off).
    private static func lacksRESP3(_ error: any Error) -> Bool {
        guard let error = error as? RedisError, let code = error.serverCode, case .server(let message) = error else {
            return false
        }
        return code == "NOPROTO" || (code == "ERR" && message.lowercased().contains("unknown command"))
    }

    private static func handshakeError(_ error: any Error) -> any Error {
        guard let redisError = error as? RedisError, case .server(let message) = redisError else {
            return error
        }
        return RedisError.handshake(message)
    }
}
