import FOAPRedis
import XCTest

final class RedisURLTests: XCTestCase {
    func testTCPWithCredentialsPortAndDatabase() throws {
        let url = try RedisURL("redis://alice:p%40ss@redis.internal:6380/3")
        XCTAssertEqual(url, RedisURL(
            endpoint: .tcp(host: "redis.internal", port: 6380), user: "alice", password: "p@ss", database: 3))
        XCTAssertEqual("\(url)", "redis://alice:***@redis.internal:6380/3")
    }

    func testDefaultsArePort6379DatabaseZeroAndNoCredentials() throws {
        XCTAssertEqual(try RedisURL("redis://localhost"), RedisURL(endpoint: .tcp(host: "localhost", port: 6379)))
        XCTAssertEqual(try RedisURL("redis://localhost/"), RedisURL(endpoint: .tcp(host: "localhost", port: 6379)))
        XCTAssertEqual(try RedisURL("redis://:secret@h").password, "secret")
        XCTAssertNil(try RedisURL("redis://:secret@h").user)
    }

    func testRedissMeansTLSAndIPv6HostsAreBracketed() throws {
        let url = try RedisURL("rediss://[::1]:7000/1")
        XCTAssertEqual(url, RedisURL(endpoint: .tcp(host: "::1", port: 7000), usesTLS: true, database: 1))
        XCTAssertEqual("\(url)", "rediss://[::1]:7000/1")
    }

    func testUnixSocketsTakeTheDatabaseAndCredentialsAsParameters() throws {
        XCTAssertEqual(try RedisURL("unix:/run/redis.sock"), RedisURL(endpoint: .unixSocket(path: "/run/redis.sock")))
        XCTAssertEqual(
            try RedisURL("unix:///run/redis.sock?db=2&password=s%26t&user=bob"),
            RedisURL(endpoint: .unixSocket(path: "/run/redis.sock"), user: "bob", password: "s&t", database: 2)
        )
    }

    func testErrorsSayWhatIsWrong() {
        let cases: [(String, String)] = [
            ("http://h", "must start with redis://, rediss:// or unix:"),
            ("redis://", "has no host"),
            ("redis://h:0", "has an invalid port '0' (1-65535)"),
            ("redis://h:99999", "has an invalid port '99999' (1-65535)"),
            ("redis://h:port", "has an invalid port 'port' (1-65535)"),
            ("redis://h/x", "has an invalid database 'x' (a number, 0 or more)"),
            ("redis://h/-1", "has an invalid database '-1' (a number, 0 or more)"),
            ("redis://h?db=1", "has a query or fragment ('?db=1'); give the database as /N"),
            ("redis://secret@h",
             "has credentials without a colon; write redis://:password@host or redis://user:password@host"),
            ("redis://:a%zz@h", "has a broken percent escape in the password"),
            ("redis://[::1", "has an IPv6 host without its closing ']'"),
            ("unix:relative.sock", "needs an absolute socket path after unix: (unix:/run/redis/redis.sock)"),
            ("unix:/s?database=1", "has an unknown parameter 'database' (known: db, user, password)"),
        ]
        for (input, message) in cases {
            XCTAssertThrowsError(try RedisURL(input), input) { error in
                XCTAssertEqual((error as? RedisURLError)?.message, message, input)
                XCTAssertEqual("\(error)", "the Redis URL \(message)")
            }
        }
    }
}
