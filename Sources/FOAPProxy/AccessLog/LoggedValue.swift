/// Values that come from the client (`X-Request-ID`, model ids) are capped before they reach a log line: a 75 KB
/// request id must not become a 75 KB journal record per request.
@usableFromInline
enum LoggedValue {
    /// The most UTF-8 bytes of one client-supplied value in a log record.
    @usableFromInline static let maximumBytes = 256

    /// `value`, or its first `maximumBytes` bytes (cut before a character's continuation bytes) followed by `…`.
    @usableFromInline
    static func capped(_ value: String) -> String {
        let bytes = value.utf8
        guard bytes.count > Self.maximumBytes else { return value }
        var end = bytes.index(bytes.startIndex, offsetBy: Self.maximumBytes)
        while end > bytes.startIndex, bytes[end] & 0xC0 == 0x80 {
            end = bytes.index(before: end)
        }
        return String(Substring(bytes[..<end])) + "…"
    }
}
