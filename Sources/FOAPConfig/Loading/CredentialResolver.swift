import Foundation

/// Finds a provider's upstream key, fresh at every load so a rotated key takes effect on the next reload.
///
/// Lookup order for `api_key_variable: NAME`:
/// 1. the environment variable `NAME`, when set and not empty;
/// 2. the file `$CREDENTIALS_DIRECTORY/NAME` (systemd `LoadCredential=NAME:...`), when that directory is set;
/// 3. the provider's `api_key_file`, when set (relative paths are relative to the config directory).
///
/// A provider with only `api_key_file` uses step 3 alone. Values are trimmed of trailing whitespace and
/// newlines (files written by `echo` end in one); an empty value counts as not found.
struct CredentialResolver: Sendable {
    let environment: [String: String]
    let configDirectory: String

    /// The result of one lookup.
    struct Resolution {
        var credential: Credential
        /// The key found, if any; nil also when no key is configured.
        var secret: String?
        /// What the operator configured (the variable, else the file path); nil when nothing is configured.
        var lookupName: String?
        /// The places searched, for the "not found" warning.
        var searched: String
    }

    func resolve(variable: String?, keyFile: String?) -> Resolution {
        guard let lookupName = variable ?? keyFile else {
            return Resolution(credential: .none, secret: nil, lookupName: nil, searched: "")
        }
        var searched: [String] = []
        var secret: String?
        if let variable {
            searched.append("environment")
            secret = Self.nonEmpty(self.environment[variable])
            if secret == nil, let directory = self.environment["CREDENTIALS_DIRECTORY"], !directory.isEmpty {
                searched.append("$CREDENTIALS_DIRECTORY")
                if Self.isPlainFileName(variable) {
                    secret = Self.readSecret(atPath: directory + "/" + variable)
                }
            }
        }
        if secret == nil, let keyFile {
            searched.append("api_key_file")
            secret = Self.readSecret(atPath: keyFile.hasPrefix("/") ? keyFile : self.configDirectory + "/" + keyFile)
        }
        let credential: Credential = secret.map { .key($0) } ?? .missing(variable: lookupName)
        return Resolution(
            credential: credential,
            secret: secret,
            lookupName: lookupName,
            searched: "searched " + searched.joined(separator: ", ")
        )
    }

    /// The trimmed contents of a key file, or nil when it cannot be read, is not UTF-8, or is empty.
    private static func readSecret(atPath path: String) -> String? {
        guard let data = FileManager.default.contents(atPath: path),
            let text = String(validating: Array(data), as: UTF8.self)
        else {
            return nil
        }
        return Self.nonEmpty(text)
    }

    private static func nonEmpty(_ value: String?) -> String? {
        guard var value else {
            return nil
        }
        while let last = value.last, last.isWhitespace {
            value.removeLast()
        }
        return value.isEmpty ? nil : value
    }

    /// A variable name is only looked up in `$CREDENTIALS_DIRECTORY` if it cannot escape that directory.
    private static func isPlainFileName(_ name: String) -> Bool {
        !name.isEmpty && name != "." && name != ".." && !name.contains("/")
    }
}
