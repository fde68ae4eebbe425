/// Why a command has no reply.
public enum RedisError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The server answered with an error (`ERR …`, `WRONGPASS …`, `NOSCRIPT …`): the message as sent.
    case server(String)
    /// No reply within the call's timeout; the connection was closed, since later replies would be out of step.
    case timeout(command: String)
    /// The connection closed before the reply came.
    case connectionClosed
    /// The client is between connections (the last attempt failed, the next one is due later): it fails calls at
    /// once instead of queueing them, so a proxy can fall back to its local limits without waiting.
    case unavailable(reason: String)
    /// The handshake (HELLO, AUTH, SELECT) failed: a wrong password, a missing database.
    case handshake(String)
    /// The client was shut down.
    case shutDown

    /// The server error's code, its first word (`ERR`, `NOAUTH`, `WRONGPASS`), for deciding what to do.
    public var serverCode: String? {
        guard case .server(let message) = self else {
            return nil
        }
        return message.split(separator: " ", maxSplits: 1).first.map(String.init)
    }

    public var description: String {
        switch self {
        case .server(let message): "Redis answered: \(message)"
        case .timeout(let command): "Redis did not answer \(command) in time"
        case .connectionClosed: "the connection to Redis closed before the reply"
        case .unavailable(let reason): "Redis is unavailable: \(reason)"
        case .handshake(let message): "the Redis handshake failed: \(message)"
        case .shutDown: "the Redis client was shut down"
        }
    }
}
