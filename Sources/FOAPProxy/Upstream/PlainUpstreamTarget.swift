/// A plain-HTTP upstream URL split into what a raw HTTP/1.1 request needs: where to connect, the `Host` value and
/// the request-target.
///
/// Parsed by hand, not with Foundation's `URL`: the snapshot's URLs are validated already, and the image-data route
/// builds one per request. HTTPS URLs yield nil; they stay with AsyncHTTPClient, which owns TLS and the CA bundle.
struct PlainUpstreamTarget: Sendable, Equatable {
    /// The connect host, without IPv6 brackets.
    var host: String
    var port: Int
    /// The `Host` header value: the authority as written in the URL.
    var hostHeader: String
    /// `Host: <hostHeader>` CRLF, as a pooled request writes it (rendered with the target, once per snapshot).
    var hostLine: [UInt8]
    /// The origin-form request-target (path and query), at least "/".
    var path: String
    /// The pool's slot for this host and port, when a snapshot's templates made the target
    /// (`UpstreamRequestTemplates`): its idle connections are found by index, not by hashing the host.
    var slot: Int?

    init?(url: String) {
        guard url.utf8.count > 7, url.prefix(7).lowercased() == "http://" else { return nil }
        self.init(afterScheme: url.dropFirst(7), defaultPort: 80)
    }

    /// Parses what follows `scheme://`; `defaultPort` applies when the authority names none.
    init?(afterScheme rest: Substring, defaultPort: Int) {
        let authorityEnd = rest.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) ?? rest.endIndex
        let authority = rest[rest.startIndex..<authorityEnd]
        guard !authority.isEmpty, !authority.contains("@") else { return nil }
        var path = String(rest[authorityEnd...])
        if let fragment = path.firstIndex(of: "#") {
            path = String(path[path.startIndex..<fragment])
        }
        if path.isEmpty || path.first == "?" {
            path = "/" + path
        }
        let host: Substring
        var port = defaultPort
        if authority.first == "[" {
            guard let close = authority.firstIndex(of: "]") else { return nil }
            host = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            if !after.isEmpty {
                guard after.first == ":", let parsed = Int(after.dropFirst()) else { return nil }
                port = parsed
            }
        } else if let colon = authority.lastIndex(of: ":") {
            host = authority[authority.startIndex..<colon]
            guard let parsed = Int(authority[authority.index(after: colon)...]) else { return nil }
            port = parsed
        } else {
            host = authority
        }
        guard !host.isEmpty, (1...65535).contains(port) else { return nil }
        self.host = String(host)
        self.port = port
        self.hostHeader = String(authority)
        self.hostLine = Array("Host: \(authority)\r\n".utf8)
        self.path = path
    }

    /// Where pooled connections are shared: one key per host and port.
    var key: UpstreamPool.Key { UpstreamPool.Key(host: self.host, port: self.port) }
}
