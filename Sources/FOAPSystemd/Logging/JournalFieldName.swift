/// Maps a foap metadata key to the journald field that carries it: `model` → `FOAP_MODEL`.
///
/// journald accepts only `[A-Z0-9_]` names of at most 64 bytes that do not start with a digit, and treats a
/// leading `_` as a trusted field it sets itself. So a key is upper-cased, every other character (each Unicode
/// scalar, not each byte) becomes `_`, and the result is put behind the `FOAP_` prefix, which also keeps foap's
/// fields apart from journald's own (`MESSAGE`, `PRIORITY`, …). Leading underscores of the key are dropped and a
/// key starting with a digit gets an `X` so the part after the prefix starts with a letter (`2xx` → `FOAP_X2XX`).
/// A key that already carries the prefix is not prefixed twice (`foap.model` → `FOAP_MODEL`).
enum JournalFieldName {
    static let prefix = "FOAP_"
    static let maximumLength = 64

    /// The field name for `key`; always valid for journald.
    static func make(forMetadataKey key: String) -> String {
        var body: [UInt8] = []
        body.reserveCapacity(key.utf8.count)
        for scalar in key.unicodeScalars {
            switch scalar {
            case "A"..."Z", "0"..."9":
                body.append(UInt8(scalar.value))
            case "a"..."z":
                body.append(UInt8(scalar.value) - 0x20)
            default:
                body.append(UInt8(ascii: "_"))
            }
        }
        body = Self.trimmingLeadingUnderscores(body)
        if body.starts(with: Self.prefix.utf8) {
            body = Self.trimmingLeadingUnderscores(Array(body.dropFirst(Self.prefix.utf8.count)))
        }
        if body.isEmpty {
            body = Array("UNNAMED".utf8)
        } else if (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(body[0]) {
            body.insert(UInt8(ascii: "X"), at: 0)
        }
        let name = Array(Self.prefix.utf8) + body.prefix(Self.maximumLength - Self.prefix.utf8.count)
        return String(decoding: name, as: UTF8.self)
    }

    private static func trimmingLeadingUnderscores(_ bytes: [UInt8]) -> [UInt8] {
        Array(bytes.drop { $0 == UInt8(ascii: "_") })
    }
}
