#if canImport(Glibc)
import Glibc
#endif

/// The forwarded routes (`Route.forwardedPaths`) with their traits, found by a path's bytes.
///
/// Routing a forwarded request hashed its path twice (the set of forwarded paths, then the traits by path) and made
/// a `String` of it on the way (~1,500 instructions per request in bench/profile). Here a path is compared only with
/// the few of the same length, and a match hands back the table's own `String`, so nothing is allocated.
struct ForwardedRouteTable: Sendable {
    struct Entry: Sendable {
        let path: String
        let traits: RouteTraits
        fileprivate let bytes: [UInt8]
    }

    /// Entries by the length of their path in bytes.
    private let byLength: [[Entry]]

    static let shared = ForwardedRouteTable(RouteTraits.forwardedRoutes)

    init(_ routes: [String: RouteTraits]) {
        var byLength = [[Entry]](repeating: [], count: (routes.keys.map(\.utf8.count).max() ?? 0) + 1)
        for (path, traits) in routes {
            byLength[path.utf8.count].append(Entry(path: path, traits: traits, bytes: Array(path.utf8)))
        }
        self.byLength = byLength
    }

    /// The forwarded route whose path is `path` (no leading slash), if there is one.
    func entry(for path: Substring) -> Entry? {
        var path = path
        return path.withUTF8 { self.entry(path: UnsafeRawBufferPointer($0)) }
    }

    /// The forwarded route a request target asks for: its path before any query or fragment, less one leading
    /// slash (`Route.pathPart`, then `withoutLeadingSlash`), found in the target's own bytes. Making the path a
    /// `String` and then a `Substring` for `entry(for:)` cost ~500 instructions per request in bench/profile.
    func entry(forTarget uri: String) -> Entry? {
        let found: Entry?? = uri.utf8.withContiguousStorageIfAvailable { target in
            let bytes = UnsafeRawBufferPointer(target)
            let start = bytes.first == UInt8(ascii: "/") ? 1 : 0
            var end = start
            while end < bytes.count, bytes[end] != UInt8(ascii: "?"), bytes[end] != UInt8(ascii: "#") {
                end += 1
            }
            return self.entry(path: UnsafeRawBufferPointer(rebasing: bytes[start..<end]))
        }
        return found ?? self.entry(for: Route.withoutLeadingSlash(Route.pathPart(of: uri)))
    }

    private func entry(path bytes: UnsafeRawBufferPointer) -> Entry? {
        let length = bytes.count
        guard length > 0, length < self.byLength.count else { return nil }
        for entry in self.byLength[length]
        where entry.bytes.withUnsafeBufferPointer({ memcmp($0.baseAddress!, bytes.baseAddress!, length) == 0 }) {
            return entry
        }
        return nil
    }
}
