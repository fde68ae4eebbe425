import FOAPJSON
import Logging
import NIOCore
import NIOConcurrencyHelpers
import NIOHTTP1

/// The one access record written per request: what was asked, where it went, what came back, how long it took.
/// Secrets and bodies are never part of it.
public struct AccessRecord: Sendable {
    public let startedAt: NIODeadline
    /// The request's id: the client's `X-Request-ID`, or the number of the one foap made up, rendered only when
    /// something reads it (with the access log off, never).
    @usableFromInline let requestIdentity: RequestIdentity

    @usableFromInline
    enum RequestIdentity: Sendable {
        case sent(String)
        case generated(Int)
    }
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
    /// Upstream attempts made (more than one when a pool failed over); 0 when nothing went upstream.
    public internal(set) var attempts = 0
    /// The failed attempts of a pooled request, `url error_code` each, in order.
    public internal(set) var attemptErrors: [String] = []
    /// From the answer's `usage` (`prompt_tokens`/`input_tokens`), when it reported one.
    public internal(set) var promptTokens: Int?
    /// From the answer's `usage` (`completion_tokens`/`output_tokens`).
    public internal(set) var completionTokens: Int?
    /// Tokens reserved at admission for a key with limits (settled with the usage when the request ends).
    public internal(set) var tokensEstimated: Int?
    /// The limit that refused the request: `tokens per min (TPM), key team-a`.
    public internal(set) var limitedBy: String?

    /// - Parameter client: the peer as `ip:port`, described once per connection.
    init(head: HTTPRequestHead, route: Route, client: String) {
        self.init(method: head.method, requestID: head.headers.first(name: "x-request-id"), route: route, client: client)
    }

    /// - Parameters:
    ///   - requestID: the client's `X-Request-ID`, if it sent one (else one is made up).
    ///   - client: the peer as `ip:port`, described once per connection.
    init(method: HTTPMethod, requestID: String?, route: Route, client: String) {
        self.startedAt = .now()
        self.requestIdentity = requestID.map { .sent($0) } ?? .generated(RequestID.take())
        self.method = method.rawValue
        self.route = route.label
        self.client = client
    }

    /// A record of nothing: what an exchange keeps once its own record has been written.
    static var vacant: AccessRecord { AccessRecord() }

    private init() {
        self.startedAt = .uptimeNanoseconds(0)
        self.requestIdentity = .sent("")
        self.method = ""
        self.route = ""
        self.client = ""
    }

    /// How a connection's peer appears in its records: `ip:port`, `unix` or `-`.
    static func describe(_ address: SocketAddress?) -> String {
        guard let address else { return "-" }
        guard let ip = address.ipAddress else { return "unix" }
        return address.port.map { "\(ip):\($0)" } ?? ip
    }

    /// The client's `X-Request-ID`, or the one foap made up (`foap-1a2b3c4d-42`).
    public var requestID: String {
        switch self.requestIdentity {
        case .sent(let id): return id
        case .generated(let number): return RequestID.text(number)
        }
    }

    /// From the start of the request until the record was written.
    public var duration: TimeAmount { (self.finishedAt ?? .now()) - self.startedAt }
    /// From the start of the request until the upstream's response head arrived.
    public var timeToFirstByte: TimeAmount? { self.firstByteAt.map { $0 - self.startedAt } }

    /// Every present field of the record in key order (the order `JSONLogHandler` writes record metadata in):
    /// the one list of fields that every access-log writer renders. Inlined into each writer, so its closure is no
    /// call per field and each value's case is known where it is rendered (~700 instructions per record in
    /// bench/profile).
    @inlinable
    public func forEachField(_ body: (_ key: JSONMemberName, _ value: AccessField) -> Void) {
        let key = Key.names
        if !self.attemptErrors.isEmpty { body(key.attemptErrors, .text(self.attemptErrors.joined(separator: ", "))) }
        if self.attempts > 0 { body(key.attempts, .integer(self.attempts)) }
        body(key.bytesIn, .integer(self.bytesIn))
        body(key.bytesOut, .integer(self.bytesOut))
        body(key.client, .text(self.client))
        if let completionTokens = self.completionTokens { body(key.completionTokens, .integer(completionTokens)) }
        body(key.durationMS, .milliseconds(self.duration))
        if let error = self.error { body(key.error, .text(error)) }
        if let keyName = self.keyName { body(key.keyName, .text(keyName)) }
        if let limitedBy = self.limitedBy { body(key.limitedBy, .text(limitedBy)) }
        body(key.method, .text(self.method))
        if let model = self.model { body(key.model, .text(LoggedValue.capped(model))) }
        if let promptTokens = self.promptTokens { body(key.promptTokens, .integer(promptTokens)) }
        if let provider = self.provider { body(key.provider, .text(provider)) }
        switch self.requestIdentity {
        case .sent(let id): body(key.requestID, .text(LoggedValue.capped(id)))
        case .generated(let number): body(key.requestID, .generatedRequestID(number))
        }
        body(key.route, .text(self.route))
        body(key.status, .integer(Int(self.status)))
        body(key.stream, .text(self.stream ? "true" : "false"))
        if let targetModel = self.targetModel { body(key.targetModel, .text(targetModel)) }
        if let tokensEstimated = self.tokensEstimated { body(key.tokensEstimated, .integer(tokensEstimated)) }
        if let ttfb = self.timeToFirstByte { body(key.ttfbMS, .milliseconds(ttfb)) }
        if let upstream = self.upstream { body(key.upstream, .text(upstream)) }
        if let upstreamStatus = self.upstreamStatus { body(key.upstreamStatus, .integer(Int(upstreamStatus))) }
    }

    /// The fields' names, their JSON member prefixes rendered once (`JSONMemberName`).
    @usableFromInline
    final class Key: Sendable {
        /// All of them in one object: one global to reach per record (a `static let` each cost a lazy-global
        /// check per field, ~300 instructions per access line in bench/profile).
        @usableFromInline static let names = Key()

        @usableFromInline let attemptErrors: JSONMemberName = "attempt_errors"
        @usableFromInline let attempts: JSONMemberName = "attempts"
        @usableFromInline let bytesIn: JSONMemberName = "bytes_in"
        @usableFromInline let bytesOut: JSONMemberName = "bytes_out"
        @usableFromInline let client: JSONMemberName = "client"
        @usableFromInline let completionTokens: JSONMemberName = "completion_tokens"
        @usableFromInline let durationMS: JSONMemberName = "duration_ms"
        @usableFromInline let error: JSONMemberName = "error"
        @usableFromInline let keyName: JSONMemberName = "key_name"
        @usableFromInline let limitedBy: JSONMemberName = "limited_by"
        @usableFromInline let method: JSONMemberName = "method"
        @usableFromInline let model: JSONMemberName = "model"
        @usableFromInline let promptTokens: JSONMemberName = "prompt_tokens"
        @usableFromInline let provider: JSONMemberName = "provider"
        @usableFromInline let requestID: JSONMemberName = "request_id"
        @usableFromInline let route: JSONMemberName = "route"
        @usableFromInline let status: JSONMemberName = "status"
        @usableFromInline let stream: JSONMemberName = "stream"
        @usableFromInline let targetModel: JSONMemberName = "target_model"
        @usableFromInline let tokensEstimated: JSONMemberName = "tokens_estimated"
        @usableFromInline let ttfbMS: JSONMemberName = "ttfb_ms"
        @usableFromInline let upstream: JSONMemberName = "upstream"
        @usableFromInline let upstreamStatus: JSONMemberName = "upstream_status"

        private init() {}
    }

    /// `12.345`: milliseconds with three decimals, as every duration in foap's records. Written digit by digit
    /// into the string's own storage: it runs twice per access record, and string interpolation cost ~1,500
    /// instructions per call in bench/profile.
    static func milliseconds(_ amount: TimeAmount) -> String {
        let micros = AccessField.microseconds(amount)
        return String(unsafeUninitializedCapacity: 24) { buffer in
            var count = 0
            var whole = micros / 1000
            var divisor = 1
            while divisor <= whole / 10 {
                divisor *= 10
            }
            while divisor > 0 {
                buffer[count] = UInt8(ascii: "0") + UInt8(whole / divisor)
                whole %= divisor
                divisor /= 10
                count += 1
            }
            let fraction = micros % 1000
            buffer[count] = UInt8(ascii: ".")
            buffer[count + 1] = UInt8(ascii: "0") + UInt8(fraction / 100)
            buffer[count + 2] = UInt8(ascii: "0") + UInt8(fraction / 10 % 10)
            buffer[count + 3] = UInt8(ascii: "0") + UInt8(fraction % 10)
            return count + 4
        }
    }
}

/// One value of an access record. Every value is written as a string; numbers stay numbers until the writer
/// renders them, so a JSON line gets their digits without a `String` in between.
public enum AccessField {
    case text(String)
    case integer(Int)
    case milliseconds(TimeAmount)
    /// An id foap made up, by its number: `generatedRequestIDPrefix` and the number's digits.
    case generatedRequestID(Int)

    /// `foap-` and this process's 8 hex digits and `-`: what every id this process makes up starts with.
    public static var generatedRequestIDPrefix: [UInt8] { RequestID.prefix }

    /// A duration's whole microseconds (0 for a negative one): a `.milliseconds` value is written as these
    /// thousandths of a millisecond with three decimals.
    public static func microseconds(_ amount: TimeAmount) -> Int {
        Int(max(0, amount.nanoseconds / 1000))
    }

    /// The value as every record shows it.
    public var text: String {
        switch self {
        case .text(let text): return text
        case .integer(let number): return String(number)
        case .milliseconds(let amount): return AccessRecord.milliseconds(amount)
        case .generatedRequestID(let number): return RequestID.text(number)
        }
    }
}

/// Request ids for requests that arrive without `X-Request-ID`: a random per-process prefix and a counter, so
/// they are unique across workers without any coordination.
enum RequestID {
    /// `foap-` and 8 random hex digits, and the `-` before the counter.
    static let prefix: [UInt8] = {
        let value = UInt32.random(in: 0...UInt32.max)
        let hex = String(value, radix: 16)
        return Array(("foap-" + String(repeating: "0", count: 8 - hex.count) + hex + "-").utf8)
    }()
    private static let counter = NIOLockedValueBox<Int>(0)

    /// The next number: an id is the prefix and this number, made into text only when it is written (a record
    /// written as a JSON line puts the digits straight into the line).
    static func take() -> Int {
        Self.counter.withLockedValue { counter -> Int in
            counter &+= 1
            return counter
        }
    }

    /// `foap-1a2b3c4d-42` for 42, written into the string's own storage (interpolation cost ~1,100 instructions).
    static func text(_ number: Int) -> String {
        let prefix = Self.prefix
        return String(unsafeUninitializedCapacity: prefix.count + 20) { buffer in
            var count = prefix.count
            _ = buffer.initialize(fromContentsOf: prefix)
            var divisor = 1
            while divisor <= number / 10 {
                divisor *= 10
            }
            while divisor > 0 {
                buffer[count] = UInt8(ascii: "0") + UInt8(number / divisor % 10)
                divisor /= 10
                count += 1
            }
            return count
        }
    }
}
