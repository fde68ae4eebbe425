import FOAPConfig
import Glibc
import NIOHTTP1

/// Decides who sent a request: reads the client's API key, hashes it once, and finds its ``ClientGrant``.
///
/// Built once per worker from the frozen snapshot, so everything that does not depend on the request — the
/// models each key may use, its `/v1/models` answer — is computed before the first request. Keys are looked up by
/// their SHA-256 in a dictionary: ``ClientKeyDigest`` compares in constant time and hashes with Swift's seeded
/// SipHash, so the lookup leaks nothing about the stored hashes (see its doc), and costs the same for ten keys or
/// ten thousand.
struct ClientAuthenticator: Sendable {
    /// One configured key, ready for the hot path.
    private struct Entry: Sendable {
        var grant: ClientGrant
        var expiresAt: Int?
        var expires: String?
    }

    /// nil in keyless mode.
    private let entries: [ClientKeyDigest: Entry]?
    /// The grant of keyless mode: every model.
    private let openGrant: ClientGrant
    /// Unix seconds now; injectable for tests.
    private let now: @Sendable () -> Int

    /// - Parameters:
    ///   - snapshot: the config the worker serves; `clientKeys == nil` means keyless mode.
    ///   - catalog: the full `/v1/models` answer, filtered per key.
    init(snapshot: ConfigSnapshot, catalog: ModelCatalog, now: @escaping @Sendable () -> Int = { time(nil) }) {
        self.openGrant = ClientGrant(keyName: nil, allowedModels: nil, modelList: catalog.listBody)
        self.now = now
        guard let clientKeys = snapshot.clientKeys else {
            self.entries = nil
            return
        }
        var entries: [ClientKeyDigest: Entry] = [:]
        entries.reserveCapacity(clientKeys.keys.count)
        for key in clientKeys.keys {
            let allowed = Set(snapshot.models.lazy.map(\.id).filter { key.allows(model: $0) })
            let grant = ClientGrant(
                keyName: key.name,
                allowedModels: allowed,
                modelList: catalog.listBody(including: allowed)
            )
            entries[key.digest] = Entry(grant: grant, expiresAt: key.expiresAt, expires: key.expires)
        }
        self.entries = entries
    }

    /// The grant for the key in `headers`, or the 401 to answer.
    ///
    /// The key is read from `Authorization: Bearer <key>` (every OpenAI SDK), else from `api-key: <key>` (Azure
    /// SDKs). In keyless mode every request gets the open grant, whatever it sends.
    /// - Parameters:
    ///   - acceptXAPIKey: also read `x-api-key` (Anthropic routes: what Anthropic SDKs send).
    ///   - acceptWebSocketProtocolKey: also read the `openai-insecure-api-key.<key>` token of
    ///     `Sec-WebSocket-Protocol` (WebSocket routes: what browser clients send).
    func authenticate(
        _ headers: @autoclosure () -> HTTPHeaders, acceptXAPIKey: Bool = false, acceptWebSocketProtocolKey: Bool = false
    ) -> Result<ClientGrant, OpenAIError> {
        guard let entries = self.entries else {
            return .success(self.openGrant)
        }
        let headers = headers()
        let presented = Self.presentedKey(headers, acceptXAPIKey: acceptXAPIKey)
            ?? (acceptWebSocketProtocolKey ? WebSocketHandshake.protocolKey(in: headers) : nil)
        guard let presented else {
            return .failure(.missingAPIKey)
        }
        guard let entry = entries[ClientKeyDigest(hashing: presented.utf8)] else {
            return .failure(.invalidAPIKey)
        }
        if let expiresAt = entry.expiresAt, self.now() >= expiresAt {
            return .failure(.expiredAPIKey(on: entry.expires ?? "?"))
        }
        return .success(entry.grant)
    }

    /// The key a client presents, trimmed; nil when it sends none.
    static func presentedKey(_ headers: HTTPHeaders, acceptXAPIKey: Bool = false) -> String? {
        if let authorization = headers.first(name: "authorization"), let token = Self.bearerToken(authorization) {
            return token
        }
        for name in acceptXAPIKey ? ["api-key", "x-api-key"] : ["api-key"] {
            if let value = headers.first(name: name) {
                let token = value.trimmingSpaces()
                if !token.isEmpty {
                    return token
                }
            }
        }
        return nil
    }
}

extension ClientAuthenticator {
    /// The token of `Bearer <token>` (the scheme in any case, spaces and tabs around it), nil for anything else.
    ///
    /// An ASCII value (every key `foap keys new` makes) is read byte-wise: walking `Character`s cost ~5,000
    /// instructions per keyed request in bench/profile. Any other value takes the `Character` path, which trims
    /// and compares exactly as before.
    static func bearerToken(_ value: String) -> String? {
        var value = value
        let ascii = value.withUTF8 { bytes -> (isASCII: Bool, token: String?) in
            guard bytes.allSatisfy({ $0 < 0x80 }) else { return (false, nil) }
            let blank = { (byte: UInt8) in byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") }
            var start = 0
            var end = bytes.count
            while start < end, blank(bytes[start]) { start += 1 }
            while end > start, blank(bytes[end - 1]) { end -= 1 }
            let scheme: StaticString = "bearer "
            guard end - start > scheme.utf8CodeUnitCount,
                scheme.withUTF8Buffer({
                    HeaderPolicy.equalsIgnoringASCIICase(UnsafeBufferPointer(rebasing: bytes[start..<start + 7]), $0)
                })
            else { return (true, nil) }
            start += scheme.utf8CodeUnitCount
            while start < end, blank(bytes[start]) { start += 1 }
            return (true, String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<end]), as: UTF8.self))
        }
        if ascii.isASCII {
            return ascii.token
        }
        let trimmed = value.trimmingSpaces()
        guard trimmed.count > 7, trimmed.prefix(7).lowercased() == "bearer " else { return nil }
        let token = trimmed.dropFirst(7).trimmingSpaces()
        return token.isEmpty ? nil : token
    }
}

extension OpenAIError {
    /// 401 without a key. `WWW-Authenticate` as RFC 9110 asks of every 401.
    static let missingAPIKey = OpenAIError(
        status: .unauthorized,
        type: "invalid_request_error",
        code: .invalidAPIKey,
        message: "You didn't provide an API key. Send it as 'Authorization: Bearer <key>' or 'api-key: <key>'.",
        headers: [("WWW-Authenticate", "Bearer")]
    )

    /// 401 for a key that is not configured. The message never echoes the key.
    static let invalidAPIKey = OpenAIError(
        status: .unauthorized,
        type: "invalid_request_error",
        code: .invalidAPIKey,
        message: "Incorrect API key provided.",
        headers: [("WWW-Authenticate", "Bearer")]
    )

    /// 401 for a configured key past its `expires` date.
    static func expiredAPIKey(on date: String) -> OpenAIError {
        OpenAIError(
            status: .unauthorized,
            type: "invalid_request_error",
            code: .invalidAPIKey,
            message: "The API key provided expired on \(date).",
            headers: [("WWW-Authenticate", "Bearer")]
        )
    }
}
