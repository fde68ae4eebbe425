import NIOCore

/// Points image URLs that an upstream minted under this gateway's public `BASE_URL` at the route that knows which
/// upstream holds the file: `BASE_URL/v1/images/data/{model}/{file_id}`.
///
/// Only `"url"` members whose value starts with `BASE_URL` change; `b64_json` answers and every other byte are left
/// as they were. The scan is byte-level (a `"url"` key is a quoted `url` followed by a colon, which cannot occur
/// inside a JSON string because inner quotes are escaped), so the body is never decoded and re-encoded.
public struct ImageURLRewriter: Sendable {
    private let baseURL: String
    private static let dataRoute = "/v1/images/data/"

    /// - Parameter baseURL: the gateway's public base URL (`BASE_URL`), trailing slashes trimmed.
    public init(baseURL: String) {
        var trimmed = Substring(baseURL)
        while trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
        self.baseURL = String(trimmed)
    }

    /// The URL for a file id under this gateway's image data route.
    func dataURL(model: String, fileID: Substring) -> String {
        self.baseURL + Self.dataRoute + model + "/" + fileID
    }

    /// Rewrites the body, or returns nil when nothing in it needs to change.
    public func rewrite(_ body: ByteBuffer, model: String) -> ByteBuffer? {
        let key: [UInt8] = Array("\"url\"".utf8)
        var replacements: [(range: Range<Int>, literal: ByteBuffer)] = []
        body.withUnsafeReadableBytes { bytes in
            var searchFrom = 0
            while let keyStart = find(key, in: bytes, from: searchFrom) {
                searchFrom = keyStart + key.count
                var index = searchFrom
                skipSpaces(bytes, &index)
                guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { continue }
                index += 1
                skipSpaces(bytes, &index)
                guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { continue }
                let valueStart = index
                index += 1
                while index < bytes.count, bytes[index] != UInt8(ascii: "\"") {
                    index += bytes[index] == UInt8(ascii: "\\") ? 2 : 1
                }
                guard index < bytes.count else { return }
                let valueEnd = index + 1
                searchFrom = valueEnd
                let literal = UnsafeRawBufferPointer(rebasing: bytes[valueStart..<valueEnd])
                guard let url = try? JSONModelScanner.unescape(literal), let rewritten = self.rewrittenURL(url, model: model)
                else { continue }
                var buffer = ByteBuffer()
                buffer.writeJSONString(rewritten)
                replacements.append((valueStart..<valueEnd, buffer))
            }
        }
        guard !replacements.isEmpty else { return nil }
        var output = ByteBuffer()
        output.reserveCapacity(body.readableBytes + replacements.count * (model.utf8.count + 16))
        var cursor = 0
        for replacement in replacements {
            output.writeImmutableBuffer(
                body.getSlice(at: body.readerIndex + cursor, length: replacement.range.lowerBound - cursor)!
            )
            output.writeImmutableBuffer(replacement.literal)
            cursor = replacement.range.upperBound
        }
        output.writeImmutableBuffer(body.getSlice(at: body.readerIndex + cursor, length: body.readableBytes - cursor)!)
        return output
    }

    /// `BASE_URL/v1/images/data/{file}` or `BASE_URL/{file}` → `BASE_URL/v1/images/data/{model}/{file}`.
    func rewrittenURL(_ url: String, model: String) -> String? {
        guard url.hasPrefix(self.baseURL + "/") else { return nil }
        var rest = url.dropFirst(self.baseURL.count)
        if rest.hasPrefix(Self.dataRoute) {
            rest = rest.dropFirst(Self.dataRoute.count)
            if rest.hasPrefix(model + "/") { return nil }  // already points at this route
        } else {
            rest = rest.dropFirst()
        }
        guard !rest.isEmpty else { return nil }
        return self.dataURL(model: model, fileID: rest)
    }
}

private func skipSpaces(_ bytes: UnsafeRawBufferPointer, _ index: inout Int) {
    while index < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[index]) { index += 1 }
}
