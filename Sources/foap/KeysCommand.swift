import ArgumentParser
import FOAPConfig
import FOAPJSON

/// `foap keys`: client API key tools. Only `new` for now; keys are revoked by deleting their entry.
struct KeysCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys",
        abstract: "Manage client API keys (the file FOAP_CLIENT_KEYS names).",
        subcommands: [NewKeyCommand.self]
    )
}

/// `foap keys new`: makes a fresh random key, prints it once, and prints the entry to paste into the key file.
///
/// The key is `sk-foap-` + 43 base64url characters of 32 bytes from `SystemRandomNumberGenerator` (the kernel's
/// `getrandom` on Linux): 256 bits, so the SHA-256 in the key file needs no salt or slow hash — nobody can try
/// enough guesses. foap keeps only the hash; a lost key is replaced, never recovered.
struct NewKeyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "new",
        abstract: "Print a new client key (once) and its entry for the key file."
    )

    /// `sk-` like OpenAI keys, so secret scanners and people recognise it; `foap-` says whose it is.
    static let prefix = "sk-foap-"

    @Option(name: .long, help: "Who the key is for; shown as key_name in access records.")
    var name: String

    @Option(name: .long, help: "A model id or `*` glob the key may use (repeat for more), e.g. 'openai-*'.")
    var models: [String]

    @Option(name: .long, help: "Last day the key works, YYYY-MM-DD (UTC). Default: never expires.")
    var expires: String?

    func validate() throws {
        if self.name.isEmpty || self.name.unicodeScalars.contains(where: { $0.properties.generalCategory == .control })
        {
            throw ValidationError("--name must be non-empty and without control characters")
        }
        if self.models.isEmpty || self.models.contains(where: \.isEmpty) {
            throw ValidationError("give at least one non-empty --models id or pattern ('*' allows every model)")
        }
        if let expires, ExpiryDate(expires) == nil {
            throw ValidationError("--expires must be a date written YYYY-MM-DD")
        }
    }

    func run() throws {
        let key = Self.makeKey()
        let digest = ClientKeyDigest(hashing: key.utf8)
        print("New client key for \(self.name). It is shown only this once; foap stores only its hash:")
        print("")
        print(key)
        print("")
        print("Add this entry to the \"keys\" array of the file FOAP_CLIENT_KEYS names (foap reloads on save):")
        print("")
        print(Self.entryJSON(name: self.name, digest: digest, models: self.models, expires: self.expires))
    }

    /// A new key from 32 random bytes.
    static func makeKey() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        return Self.prefix + Base64URL.encode(bytes)
    }

    /// The key file entry as one line of JSON, keys in the documented order.
    static func entryJSON(name: String, digest: ClientKeyDigest, models: [String], expires: String?) -> String {
        var json = "{\"name\": \(String.jsonQuoted(name)), \"sha256\": \"\(digest.hex)\", \"models\": ["
        json += models.map(String.jsonQuoted).joined(separator: ", ") + "]"
        if let expires {
            json += ", \"expires\": \(String.jsonQuoted(expires))"
        }
        return json + "}"
    }
}

/// Base64url without padding (RFC 4648 §5): safe in headers, URLs and shell arguments without quoting.
enum Base64URL {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    static func encode(_ bytes: [UInt8]) -> String {
        var output: [UInt8] = []
        output.reserveCapacity((bytes.count * 4 + 2) / 3)
        var index = 0
        while index < bytes.count {
            let count = min(3, bytes.count - index)
            var group: UInt32 = 0
            for offset in 0..<3 {
                group = group << 8 | (offset < count ? UInt32(bytes[index + offset]) : 0)
            }
            for position in 0...count {
                output.append(Self.alphabet[Int(group >> UInt32(18 - 6 * position) & 0x3F)])
            }
            index += 3
        }
        return String(decoding: output, as: UTF8.self)
    }
}
