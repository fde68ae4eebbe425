import NIOHTTP1

/// A request head as the client sent it: the request line and the field block (`HTTPFieldBlock`), the fields kept
/// as the bytes they arrived in.
///
/// Most of a request's fields are forwarded as they are, and the proxy reads a handful of them: turning every field
/// into two `String`s and an `HTTPHeaders` (NIO's `HTTPRequestHead`), to filter and encode them again, cost ~9,000
/// instructions per request in bench/profile. `headers` builds NIO's form for the paths that want `String`s.
public struct HTTPReceivedRequestHead: Sendable {
    public var method: HTTPMethod
    public var uri: String
    public var version: HTTPVersion
    public var fields: HTTPFieldBlock

    public init(method: HTTPMethod, uri: String, version: HTTPVersion, fields: HTTPFieldBlock) {
        self.method = method
        self.uri = uri
        self.version = version
        self.fields = fields
    }

    /// The fields as `String`s, built on every call: for the paths that are not every request's.
    public var headers: HTTPHeaders { self.fields.headers }

    /// The same head as NIO's type, its fields as `String`s.
    public var httpRequestHead: HTTPRequestHead {
        HTTPRequestHead(version: self.version, method: self.method, uri: self.uri, headers: self.fields.headers)
    }
}
