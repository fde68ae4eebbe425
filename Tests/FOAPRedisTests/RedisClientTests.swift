import FOAPRedis
import NIOCore
import NIOPosix
import RedisTestSupport
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// The client against a real `redis-server` started per test.
final class RedisClientTests: XCTestCase {
    private var group: MultiThreadedEventLoopGroup!

    override func setUp() {
        self.group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
    }

    override func tearDown() {
        try? self.group.syncShutdownGracefully()
    }

    private func startServer(password: String? = nil) throws -> RedisServer {
        let server = try RedisServer(password: password)
        self.addTeardownBlock { server.stop() }
        return server
    }

    private func makeClient(
        _ url: RedisURL,
        timeout: TimeAmount = .seconds(2),
        backoff: RedisBackoff = RedisBackoff(initial: .milliseconds(20), maximum: .milliseconds(200))
    ) throws -> RedisClient {
        let configuration = RedisConfiguration(url: url, connectTimeout: .seconds(2), commandTimeout: timeout)
        let client = try RedisClient(configuration: configuration, group: self.group, backoff: backoff)
        self.addTeardownBlock { try? await client.shutdown().get() }
        return client
    }

    func testPingSpeaksRESP3() async throws {
        let server = try self.startServer()
        let client = try self.makeClient(server.url)
        let pong = try await client.send(RedisCommand("PING")).get()
        XCTAssertEqual(pong.string, "PONG")
        let connection = try await client.connection().get()
        XCTAssertEqual(connection.protocolVersion, 3)
        // RESP3 answers HGETALL with a map, which RESP2 would flatten into an array.
        _ = try await client.send(RedisCommand("HSET", "h", "f", "v")).get()
        let hash = try await client.send(RedisCommand("HGETALL", "h")).get()
        guard case .map(let pairs) = hash else {
            return XCTFail("expected a map, got \(hash)")
        }
        XCTAssertEqual(pairs.map { [$0.key.string, $0.value.string] }, [["f", "v"]])
    }

    func testAThousandPipelinedCallsAreAnsweredInOrder() async throws {
        let server = try self.startServer()
        let client = try self.makeClient(server.url)
        let eventLoop = self.group.next()
        let connection = try await client.connection(on: eventLoop).get()
        let futures = (0..<1000).flatMap { index in
            [connection.send(RedisCommand("SET", "key\(index)", "value\(index)")),
             connection.send(RedisCommand("GET", "key\(index)"))]
        }
        let replies = try await EventLoopFuture.whenAllSucceed(futures, on: eventLoop).get()
        for index in 0..<1000 {
            XCTAssertEqual(replies[2 * index].string, "OK")
            XCTAssertEqual(replies[2 * index + 1].string, "value\(index)")
        }
    }

    func testErrorRepliesFailOnlyTheirOwnCall() async throws {
        let server = try self.startServer()
        let client = try self.makeClient(server.url)
        let connection = try await client.connection().get()
        let bad = connection.send(RedisCommand("NOSUCHCOMMAND"))
        let good = connection.send(RedisCommand("ECHO", "still in step"))
        do {
            _ = try await bad.get()
            XCTFail("an unknown command must fail")
        } catch let error as RedisError {
            XCTAssertEqual(error.serverCode, "ERR")
        }
        let echoed = try await good.get()
        XCTAssertEqual(echoed.string, "still in step")
    }

    func testAuthWithAPasswordAndAWrongPasswordFailsTheHandshake() async throws {
        let server = try self.startServer(password: "s3cret")
        let client = try self.makeClient(server.url)
        let pong = try await client.send(RedisCommand("PING")).get()
        XCTAssertEqual(pong.string, "PONG")

        var wrong = server.url
        wrong.password = "nope"
        let refused = try self.makeClient(wrong, backoff: RedisBackoff(initial: .seconds(10), maximum: .seconds(10)))
        let eventLoop = self.group.next()
        do {
            _ = try await refused.send(RedisCommand("PING"), on: eventLoop).get()
            XCTFail("a wrong password must fail")
        } catch RedisError.handshake(let message) {
            XCTAssertTrue(message.hasPrefix("WRONGPASS"), message)
        }
        // Between attempts the loop's connection fails calls at once, naming the last failure.
        do {
            _ = try await refused.send(RedisCommand("PING"), on: eventLoop).get()
            XCTFail("the client must not pretend to be connected")
        } catch RedisError.unavailable(let reason) {
            XCTAssertTrue(reason.contains("WRONGPASS"), reason)
        }
    }

    func testTheURLsDatabaseIsSelected() async throws {
        let server = try self.startServer()
        var url = server.url
        url.database = 5
        let client = try self.makeClient(url)
        _ = try await client.send(RedisCommand("SET", "where", "five")).get()
        let zero = try self.makeClient(server.url)
        let inZero = try await zero.send(RedisCommand("GET", "where")).get()
        XCTAssertEqual(inZero, .null)
        let inFive = try await client.send(RedisCommand("GET", "where")).get()
        XCTAssertEqual(inFive.string, "five")
    }

    func testTheClientReconnectsAfterTheServerRestarts() async throws {
        let server = try self.startServer()
        let client = try self.makeClient(server.url)
        let eventLoop = self.group.next()
        _ = try await client.send(RedisCommand("PING"), on: eventLoop).get()
        server.stop()
        // The server is gone: calls fail (closed, refused, or at once while the client waits to retry).
        do {
            _ = try await client.send(RedisCommand("PING"), on: eventLoop).get()
            XCTFail("no server, no reply")
        } catch {}
        try server.start()
        let pong = try await self.eventually { try await client.send(RedisCommand("PING"), on: eventLoop).get() }
        XCTAssertEqual(pong.string, "PONG")
    }

    func testACallTimesOutWhenTheServerIsStoppedAndTheClientRecoversWhenItContinues() async throws {
        let server = try self.startServer()
        let client = try self.makeClient(server.url, timeout: .milliseconds(300))
        let eventLoop = self.group.next()
        _ = try await client.send(RedisCommand("PING"), on: eventLoop).get()
        server.signal(SIGSTOP)
        defer { server.signal(SIGCONT) }
        let started = ContinuousClock.now
        do {
            _ = try await client.send(RedisCommand("PING"), on: eventLoop).get()
            XCTFail("a stopped server cannot answer")
        } catch RedisError.timeout(let command) {
            XCTAssertEqual(command, "PING")
        }
        XCTAssertLessThan(ContinuousClock.now - started, .seconds(2))
        server.signal(SIGCONT)
        let pong = try await self.eventually { try await client.send(RedisCommand("PING"), on: eventLoop).get() }
        XCTAssertEqual(pong.string, "PONG")
    }

    /// Retries `body` for up to five seconds.
    private func eventually<T>(_ body: () async throws -> T) async throws -> T {
        let deadline = ContinuousClock.now + .seconds(5)
        while true {
            do {
                return try await body()
            } catch {
                if ContinuousClock.now > deadline {
                    throw error
                }
                try await Task.sleep(for: .milliseconds(25))
            }
        }
    }
}
