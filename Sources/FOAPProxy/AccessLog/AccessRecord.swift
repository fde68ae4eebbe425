import Logging
import NIOCore
import NIOConcurrencyHelpers
import NIOHTTP1

/// The one access record written per request: what was asked, where it went, what came back, how long it took.
/// Secrets and bodies are never part of it.
struct AccessRecord {
    let startedAt: NIODeadline
    let requestID: String
    let method: String
    let route: String
    let client: String
    var model: String?
    /// The client key's name (never the key); nil in keyless mode and on routes that need no key.
    var keyName: String?
    var provider: String?
    var targetModel: String?
    var upstream: String?
    var upstreamStatus: UInt?
    var status: UInt = 0
    var stream = false
    var bytesIn = 0
    var bytesOut = 0
    var firstByteAt: NIODeadline?
    var error: String?

    init(head: HTTPRequestHead, route: Route, remote: SocketAddress?) {
        self.startedAt = .now()
        self.requestID = head.headers.first(name: "x-request-id") ?? RequestID.next()
        self.method = head.method.rawValue
        self.route = route.label
        self.client = remote.map(Self.describe) ?? "-"
    }

    private static func describe(_ address: SocketAddress) -> String {
        guard let ip = address.ipAddress else { return "unix" }
        return address.port.map { "\(ip):\($0)" } ?? ip
    }

    /// Writes the record at `info`; nothing is formatted when the logger does not want it.
    func log(to logger: Logger) {
        guard logger.logLevel <= .info else { return }
        let now = NIODeadline.now()
        // Built with room for every optional field (no rehash) and plain `.string` values: `.stringConvertible`
        // boxes each number in an existential that the handler then has to describe.
        var metadata = Logger.Metadata(minimumCapacity: 18)
        metadata["request_id"] = .string(self.requestID)
        metadata["client"] = .string(self.client)
        metadata["method"] = .string(self.method)
        metadata["route"] = .string(self.route)
        metadata["status"] = .string(String(self.status))
        metadata["stream"] = .string(self.stream ? "true" : "false")
        metadata["bytes_in"] = .string(String(self.bytesIn))
        metadata["bytes_out"] = .string(String(self.bytesOut))
        metadata["duration_ms"] = .string(Self.milliseconds(now - self.startedAt))
        if let model { metadata["model"] = .string(model) }
        if let keyName { metadata["key_name"] = .string(keyName) }
        if let provider { metadata["provider"] = .string(provider) }
        if let targetModel { metadata["target_model"] = .string(targetModel) }
        if let upstream { metadata["upstream"] = .string(upstream) }
        if let upstreamStatus { metadata["upstream_status"] = .string(String(upstreamStatus)) }
        if let firstByteAt { metadata["ttfb_ms"] = .string(Self.milliseconds(firstByteAt - self.startedAt)) }
        if let error { metadata["error"] = .string(error) }
        logger.info("request", metadata: metadata)
    }

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
