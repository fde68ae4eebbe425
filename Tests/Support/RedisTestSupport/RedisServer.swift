import FOAPRedis
import Foundation
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

/// A throwaway `redis-server` on 127.0.0.1 and a free port, without persistence, for one test: shared by every test
/// target that needs a real Redis (the client's, the proxy's, the end-to-end ones).
///
/// Always `stop()` it (tests register that as a teardown block): it is signalled by its PID only.
public final class RedisServer: @unchecked Sendable {
    public let port: Int
    public let password: String?
    private var process: Process?

    public var pid: Int32 { self.process?.processIdentifier ?? 0 }
    public var url: RedisURL {
        RedisURL(endpoint: .tcp(host: "127.0.0.1", port: self.port), password: self.password)
    }

    /// The same as a `FOAP_LIMITS_REDIS_URL` value.
    public var urlString: String {
        self.password.map { "redis://:\($0)@127.0.0.1:\(self.port)" } ?? "redis://127.0.0.1:\(self.port)"
    }

    public init(password: String? = nil) throws {
        self.port = try Self.freePort()
        self.password = password
        try self.start()
    }

    /// Starts (again, after ``stop()``) on the same port; returns once it accepts connections.
    public func start() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/redis-server")
        var arguments = ["--port", String(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                         "--daemonize", "no", "--loglevel", "warning"]
        if let password {
            arguments += ["--requirepass", password]
        }
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/redis-server") else {
            throw ServerError("redis-server is not installed (scripts/bootstrap --test installs it)")
        }
        try process.run()
        self.process = process
        let deadline = Date().addingTimeInterval(10)
        while !Self.accepts(port: self.port) {
            guard Date() < deadline, process.isRunning else {
                self.stop()
                throw ServerError("redis-server did not start on port \(self.port)")
            }
            usleep(20_000)
        }
    }

    /// SIGKILL, and waits until it is gone. Not SIGTERM: a process spawned from the test runner inherits its
    /// blocked signal mask, so redis-server would never see it; without persistence there is nothing to save anyway.
    public func stop() {
        guard let process else {
            return
        }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
        }
        process.waitUntilExit()
        self.process = nil
    }

    public func signal(_ signal: Int32) {
        if let process, process.isRunning {
            kill(process.processIdentifier, signal)
        }
    }

    /// Runs one command through `redis-cli` (bounded by `timeout 5`) and returns its output, for tests that reach
    /// past foap: `FLUSHALL`, `INFO commandstats`.
    public func cli(_ arguments: String...) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/timeout")
        var all = ["5", "/usr/bin/redis-cli", "-h", "127.0.0.1", "-p", String(self.port)]
        if let password { all += ["--no-auth-warning", "-a", password] }
        process.arguments = all + arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }

    /// How many times Redis ran `FCALL` since it started (`INFO commandstats`).
    public func functionCalls() throws -> Int {
        let stats = try self.cli("INFO", "commandstats")
        guard let line = stats.split(whereSeparator: \.isNewline).first(where: { $0.hasPrefix("cmdstat_fcall:") }),
            let calls = line.split(separator: ",").first?.split(separator: "=").last
        else { return 0 }
        return Int(calls) ?? 0
    }

    public struct ServerError: Error, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    private static func accepts(port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = Self.loopback(port: port)
        return withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw in
                connect(fd, raw, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
    }

    private static func loopback(port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        return address
    }

    /// A TCP port nobody listens on right now: bind 127.0.0.1:0, read the port, close.
    public static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.EMFILE) }
        defer { close(fd) }
        var address = Self.loopback(port: 0)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw in
                bind(fd, raw, length) == 0 && getsockname(fd, raw, &length) == 0
            }
        }
        guard bound else { throw POSIXError(.EADDRINUSE) }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
