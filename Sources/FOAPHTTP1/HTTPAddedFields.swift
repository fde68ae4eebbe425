/// The fields a proxy adds to a request it forwards, written after the forwarded ones in this order: a credential,
/// the body's length, then lines rendered ahead of time.
///
/// Made per request from parts made once (an upstream's `Host` line, a credential's name): as `(String, String)`
/// pairs, the array, the value strings and the name checks on them cost ~1,500 instructions per request in
/// bench/profile.
public struct HTTPAddedFields: Sendable {
    /// A credential field: its name (`Authorization`), what precedes the key in its value (`Bearer `), and the key.
    public var credential: (name: StaticString, valuePrefix: StaticString, value: String)?
    /// `Content-Length` of the body sent.
    public var contentLength: Int?
    /// Field lines written as they are (`name: value` CRLF each). Never framing fields: the writer does not look.
    public var lines: [UInt8]

    public init(
        credential: (name: StaticString, valuePrefix: StaticString, value: String)? = nil, contentLength: Int? = nil,
        lines: [UInt8] = []
    ) {
        self.credential = credential
        self.contentLength = contentLength
        self.lines = lines
    }

    /// At most the bytes they take (the length's digits counted as 20).
    var maximumSize: Int {
        let credential = self.credential.map {
            $0.name.utf8CodeUnitCount + 2 + $0.valuePrefix.utf8CodeUnitCount + $0.value.utf8.count + 2
        } ?? 0
        return credential + (self.contentLength == nil ? 0 : 16 + 20 + 2) + self.lines.count
    }

    /// Writes them; a `Content-Length` the framing replaces (`droppingLength`) is left out.
    func write(into out: inout ByteWriter, droppingLength: Bool) {
        if let credential = self.credential {
            out.append(credential.name)
            out.append(": ")
            out.append(credential.valuePrefix)
            out.append(string: credential.value)
            out.append("\r\n")
        }
        if let length = self.contentLength, !droppingLength {
            out.append("Content-Length: ")
            out.appendDecimal(length)
            out.append("\r\n")
        }
        self.lines.withUnsafeBytes { out.append($0) }
    }
}
