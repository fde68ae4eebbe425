import Crypto

/// The short trailer foap appends to the ids an upstream hands out (`resp_…`, `file-…`, `batch_…`), so that a later
/// call carrying the id goes back to the upstream that made it — without a database, and the same on every instance
/// (DESIGN.md, "Routing by id").
///
/// `<id>_1TTTMMMMM`: `_`, a version (`1`), a 3-character tag of the upstream's stable identity (provider + base URL,
/// never a list position, so reordering a pool keeps every id valid) and a 5-character MAC of the version, tag and
/// id under the secret every instance shares (`FOAP_ID_SECRET`). Ten characters of `[A-Za-z0-9_-]`, so a `resp_` id
/// of OpenAI's length stays within the 64 characters `previous_response_id` allows. A trailer that does not verify
/// is never guessed around: the caller answers 404.
public struct IDTrailer: Sendable {
    /// Characters the trailer adds to an id.
    public static let length = 10
    static let version: UInt8 = UInt8(ascii: "1")
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    private let key: SymmetricKey

    /// - Parameter secret: `FOAP_ID_SECRET`'s bytes; every instance of a fleet must have the same.
    public init(secret: [UInt8]) {
        self.key = SymmetricKey(data: secret)
    }

    /// What a presented id turned out to be.
    public enum Decoded: Equatable, Sendable {
        /// No trailer: an id made before foap, or by another client.
        case plain(String)
        /// A verified trailer: the id as the upstream made it, and the tag of that upstream.
        case routed(id: String, tag: String)
        /// Something shaped like a trailer that does not verify: a damaged or forged id.
        case forged
    }

    /// The 3-character tag of an upstream (`identity`: provider + base URL).
    public func tag(forUpstream identity: String) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: Array(("tag:" + identity).utf8), using: self.key)
        return Self.characters(Array(mac), count: 3)
    }

    /// `id` with the trailer of `tag`; an id that already carries a valid trailer is returned as it is.
    public func encode(_ id: String, tag: String) -> String {
        if case .routed = self.decode(id) {
            return id
        }
        return id + "_" + String(decoding: [Self.version], as: UTF8.self) + tag + self.mac(id: id, tag: tag)
    }

    public func decode(_ presented: String) -> Decoded {
        let bytes = Array(presented.utf8)
        guard bytes.count > Self.length, bytes[bytes.count - Self.length] == UInt8(ascii: "_"),
            bytes[bytes.count - Self.length + 1] == Self.version
        else {
            return .plain(presented)
        }
        let trailer = bytes[(bytes.count - Self.length + 2)...]
        guard trailer.allSatisfy(Self.alphabet.contains) else {
            return .plain(presented)
        }
        let id = String(decoding: bytes[..<(bytes.count - Self.length)], as: UTF8.self)
        let tag = String(decoding: trailer.prefix(3), as: UTF8.self)
        let mac = String(decoding: trailer.suffix(5), as: UTF8.self)
        guard Self.constantTimeEqual(Array(mac.utf8), Array(self.mac(id: id, tag: tag).utf8)) else {
            return .forged
        }
        return .routed(id: id, tag: tag)
    }

    private func mac(id: String, tag: String) -> String {
        let message = Array(("1" + tag + id).utf8)
        return Self.characters(Array(HMAC<SHA256>.authenticationCode(for: message, using: self.key)), count: 5)
    }

    /// `count` characters of the URL-safe base64 alphabet from the first bytes of `bytes` (6 bits each).
    private static func characters(_ bytes: [UInt8], count: Int) -> String {
        var bits: UInt64 = 0
        for byte in bytes.prefix(8) {
            bits = bits << 8 | UInt64(byte)
        }
        return String(
            decoding: (0..<count).map { index in Self.alphabet[Int(bits >> UInt64(58 - 6 * index) & 63)] },
            as: UTF8.self)
    }

    private static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        return zip(a, b).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }
}
