/// Builds ``ConfigSnapshot/sourceDigest``: one hash over everything a load read.
///
/// The master rescans on every inotify event and compares digests to tell "nothing changed" from a real
/// change, so the digest must cover each config file's name and bytes, the client key file *and* every
/// credential value (a rotated key must start a new generation even though no model file changed). Each field
/// is length-prefixed and tagged, so two different inputs can never frame into the same byte stream.
struct SourceDigest {
    private var hash = SHA256()

    init() {}

    /// Adds one config file that was read.
    mutating func addFile(name: String, contents: [UInt8]) {
        self.addField(tag: 0x46, Array(name.utf8))  // "F"
        self.addField(tag: 0x42, contents)  // "B"
    }

    /// Adds the client key file (`FOAP_CLIENT_KEYS`): its path and bytes.
    mutating func addClientKeyFile(path: String, contents: [UInt8]) {
        self.addField(tag: 0x41, Array(path.utf8))  // "A": authentication
        self.addField(tag: 0x42, contents)  // "B"
    }

    /// Adds the outcome of one credential lookup; `value` is nil when nothing was found.
    mutating func addCredential(owner: String, value: String?) {
        self.addField(tag: 0x43, Array(owner.utf8))  // "C"
        if let value {
            self.addField(tag: 0x4B, Array(value.utf8))  // "K"
        } else {
            self.addField(tag: 0x4D, [])  // "M": missing
        }
    }

    /// The digest as 64 lowercase hex characters.
    consuming func finalize() -> String {
        self.hash.finalizeHex()
    }

    private mutating func addField(tag: UInt8, _ bytes: [UInt8]) {
        var header: [UInt8] = [tag]
        let length = UInt64(bytes.count)
        for shift in stride(from: 56, through: 0, by: -8) {
            header.append(UInt8(truncatingIfNeeded: length >> UInt64(shift)))
        }
        self.hash.update(header)
        self.hash.update(bytes)
    }
}
