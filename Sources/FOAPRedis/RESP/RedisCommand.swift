import NIOCore

/// One command: its name and arguments as the binary strings Redis receives.
public struct RedisCommand: Sendable, Hashable, CustomStringConvertible {
    public var arguments: [ByteBuffer]

    /// `RedisCommand("SET", "k", 1)`.
    public init(_ name: String, _ arguments: any RedisArgument...) {
        self.init(name, arguments)
    }

    public init(_ name: String, _ arguments: [any RedisArgument]) {
        self.arguments = [ByteBuffer(string: name)] + arguments.map(\.redisArgument)
    }

    /// The command's name, upper-cased, for errors and logs (arguments may be secrets, so they are left out).
    public var name: String {
        self.arguments.first.map { String(buffer: $0).uppercased() } ?? ""
    }

    public var description: String {
        self.name
    }
}

/// A value that can be sent as a command argument.
public protocol RedisArgument: Sendable {
    var redisArgument: ByteBuffer { get }
}

extension String: RedisArgument {
    public var redisArgument: ByteBuffer { ByteBuffer(string: self) }
}

extension Substring: RedisArgument {
    public var redisArgument: ByteBuffer { ByteBuffer(substring: self) }
}

extension Int: RedisArgument {
    public var redisArgument: ByteBuffer { ByteBuffer(string: String(self)) }
}

extension Int64: RedisArgument {
    public var redisArgument: ByteBuffer { ByteBuffer(string: String(self)) }
}

extension ByteBuffer: RedisArgument {
    public var redisArgument: ByteBuffer { self }
}
