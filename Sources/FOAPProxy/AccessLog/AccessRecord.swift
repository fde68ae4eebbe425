import Logging
import NIOCore
import NIOConcurrencyHelpers
import NIOHTTP1

/// The one access record written per request: what was asked, where it went, what came back, how long it took.
/// Secrets and bodies are never part of it.
public struct AccessRecord: Sendable {
    public let startedAt: NIODeadline
    public let requestID: String
    public let method: String
    public let route: String
    public let client: String
    public internal(set) var model: String?
    /// The client key's name (never the key); nil in keyless mode and on routes that need no key.
    public internal(set) var keyName: String?
    public internal(set) var provider: String?
    public internal(set) var targetModel: String?
    public internal(set) var upstream: String?
    public internal(set) var upstreamStatus: UInt?
    public internal(set) var status: UInt = 0
    public internal(set) var stream = false
    public internal(set) var bytesIn = 0
    public internal(set) var bytesOut = 0
    public internal(set) var firstByteAt: NIODeadline?
    /// Set when the record is written.
    public internal(set) var finishedAt: NIODeadline?
    public internal(set) var error: String?

    /// - Parameter client: the peer as `ip:port`, described once per connection.
    init(head: HTTPRequestHead, route: Route, client: String) {
        self.startedAt = .now()
        self.requestID = head.headers.first(name: "x-request-id") ?? RequestID.next()
        self.method = head.method.rawValue
        self.route = route.label
        self.client = client
    }

    /// How a connection's peer appears in its records: `ip:port`, `unix` or `-`.
    static func describe(_ address: SocketAddress?) -> String {
        guard let address else { return "-" }
        guard let ip = address.ipAddress else { return "unix" }
        return address.port.map { "\(ip):\($0)" } ?? ip
    }

    /// From the start of the request until the record was written.
    public var duration: TimeAmount { (self.finishedAt ?? .now()) - self.startedAt }
    /// From the start of the request until the upstream's response head arrived.
    public var timeToFirstByte: TimeAmount? { self.firstByteAt.map { $0 - self.startedAt } }

    static func milliseconds(_ amount: TimeAmount) -> String {
        let micros = amount.nanoseconds / 1000
        let whole = micros / 1000
        let fraction = micros % 1000
        let padded = fraction < 10 ? "00\(fraction)" : fraction < 100 ? "0\(fraction)" : "\(fraction)"
        return "\(whole).\(padded)"
    }
}

/// Request ids for requests that arrive without `X-Request-ID`: a random per-process prefix and a counter, so
/// they are unique across workers without any coordination.
enum RequestID {
    private static let prefix: String = {
        let value = UInt32.random(in: 0...UInt32.max)
        let hex = String(value, radix: 16)
        return String(repeating: "0", count: 8 - hex.count) + hex
    }()
    private static let counter = NIOLockedValueBox<UInt64>(0)

    static func next() -> String {
        let value = Self.counter.withLockedValue { counter -> UInt64 in
            counter &+= 1
            return counter
        }
        return "foap-\(Self.prefix)-\(value)"
    }
}
