import NIOCore
import NIOHTTP1

/// A request head as the client sent it: the request line and the field block (`HTTPFieldBlock`), the fields kept
/// as the bytes they arrived in.
///
/// Most of a request's fields are forwarded as they are, and the proxy reads a handful of them: turning every field
/// into two `String`s and an `HTTPHeaders` (NIO's `HTTPRequestHead`), to filter and encode them again, cost ~9,000
/// instructions per request in bench/profile. `headers` builds NIO's form for the paths that want `String`s.
public struct HTTPReceivedRequestHead: Sendable {
    public var method: HTTPMethod
    /// The request target. A parsed head keeps it as bytes and makes the `String` on each call: the proxy's own
    /// path reads the bytes (`withTarget`), and a target longer than 15 bytes (`/v1/chat/completions`) made a
    /// `String` allocated and freed per request (~400 instructions in bench/profile).
    public var uri: String {
        get {
            switch self.target {
            case .given(let uri): return uri
            case .inHead: return self.withTarget { String(decoding: $0, as: UTF8.self) }
            }
        }
        set { self.target = .given(newValue) }
    }
    public var version: HTTPVersion
    public var fields: HTTPFieldBlock {
        // Other fields may come with other bytes: the target moves out of the old ones first.
        willSet {
            if case .inHead = self.target {
                self.target = .given(self.uri)
            }
        }
    }
    @usableFromInline var target: Target

    @usableFromInline
    enum Target: Sendable {
        case given(String)
        /// Where the target is in the head's bytes (`fields.bytes`, the whole head from its first byte).
        case inHead(start: UInt32, count: UInt32)
    }

    public init(method: HTTPMethod, uri: String, version: HTTPVersion, fields: HTTPFieldBlock) {
        self.method = method
        self.target = .given(uri)
        self.version = version
        self.fields = fields
    }

    /// A parsed head, its target at `target` in `fields.bytes`.
    init(method: HTTPMethod, target: Range<Int>, version: HTTPVersion, fields: HTTPFieldBlock) {
        self.method = method
        self.target = .inHead(start: UInt32(target.lowerBound), count: UInt32(target.count))
        self.version = version
        self.fields = fields
    }

    /// Calls `body` with the request target's bytes, without making a `String` of them.
    @inlinable
    public func withTarget<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
        switch self.target {
        case .given(var uri):
            return try uri.withUTF8 { try body(UnsafeRawBufferPointer($0)) }
        case .inHead(let start, let count):
            return try withExtendedLifetime(self.fields) {
                try body(UnsafeRawBufferPointer(rebasing: self.fields.headBytes[Int(start)..<Int(start + count)]))
            }
        }
    }

    /// The fields as `String`s, built on every call: for the paths that are not every request's.
    public var headers: HTTPHeaders { self.fields.headers }

    /// The same head as NIO's type, its fields as `String`s.
    public var httpRequestHead: HTTPRequestHead {
        HTTPRequestHead(version: self.version, method: self.method, uri: self.uri, headers: self.fields.headers)
    }
}
