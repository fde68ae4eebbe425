import FOAPHTTP1
import NIOHTTP1

/// A response head on its way to the client: the upstream's end-to-end fields as they arrived (bytes, relayed
/// without becoming `String`s), followed by the fields foap sets itself (`head.headers`: `Connection: close`,
/// `x-ratelimit-*`, a rewritten answer's `Content-Length`, or every field of an answer foap makes).
struct ClientResponseHead: Equatable {
    /// The client's HTTP version, the status, and foap's own fields.
    var head: HTTPResponseHead
    /// The upstream's fields, hop-by-hop ones already dropped (`HeaderPolicy.downstreamFields`); nil when the head
    /// carries them as `String`s in `head.headers` (AsyncHTTPClient's answers) or has none.
    var relayed: HTTPFieldBlock?

    init(_ head: HTTPResponseHead, relaying relayed: HTTPFieldBlock? = nil) {
        self.head = head
        self.relayed = relayed
    }

    var status: HTTPResponseStatus { self.head.status }

    // A relayed head has no fields of foap's own yet (nearly every answer): its lookups skip them without making a
    // `String` of the name for `HTTPHeaders` (~400 instructions per lookup in bench/profile).

    /// The first value of a field, foap's own before a relayed one.
    func first(name lowercase: StaticString) -> String? {
        if !self.head.headers.isEmpty, let own = self.head.headers.first(name: lowercase.description) {
            return own
        }
        return self.relayed?.first(name: lowercase)
    }

    /// Whether the first value of a field starts with `prefix` (for a relayed one, without making a `String`).
    func first(name lowercase: StaticString, hasPrefix prefix: StaticString) -> Bool {
        if !self.head.headers.isEmpty, let own = self.head.headers.first(name: lowercase.description) {
            return own.utf8.starts(with: UnsafeRawBufferPointer(start: prefix.utf8Start, count: prefix.utf8CodeUnitCount))
        }
        return self.relayed?.first(name: lowercase, hasPrefix: prefix) == true
    }

    func contains(name lowercase: StaticString) -> Bool {
        (!self.head.headers.isEmpty && self.head.headers.contains(name: lowercase.description))
            || self.relayed?.contains(name: lowercase) == true
    }

    /// The length of a body foap rewrote: the upstream's `Content-Length` is dropped.
    mutating func setContentLength(_ length: Int) {
        self.relayed?.remove(name: "content-length")
        self.head.headers.replaceOrAdd(name: "Content-Length", value: String(length))
    }
}
