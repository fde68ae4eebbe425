import Foundation

extension ConfigLoader {
    /// The environment variable naming the client key file. Unset or empty: keyless mode.
    public static let clientKeysVariable = "FOAP_CLIENT_KEYS"

    /// The key file `FOAP_CLIENT_KEYS` names in this loader's environment, or nil in keyless mode.
    ///
    /// A relative path is relative to the current directory of the process that loads (the master), not to the
    /// config directory: the key file is usually kept apart from the model files, with tighter permissions.
    public var clientKeysPath: String? {
        guard let path = self.environment[Self.clientKeysVariable], !path.isEmpty else {
            return nil
        }
        return path
    }

    /// Reads and validates the key file, if one is configured, adding its bytes to the digest so an edit starts a
    /// new generation.
    ///
    /// - Parameter models: the loaded models, to warn about patterns that match none of them (usually a typo).
    /// - Returns: nil in keyless mode, or when the file has errors (they are in `diagnostics`, failing the load).
    func loadClientKeys(
        models: [ModelConfig],
        diagnostics: inout ConfigDiagnostics,
        digest: inout SourceDigest
    ) -> ClientKeys? {
        guard let path = self.clientKeysPath else {
            return nil
        }
        let bytes: [UInt8]
        do {
            bytes = try Self.readKeyFile(path)
        } catch {
            diagnostics.append(error)
            return nil
        }
        digest.addClientKeyFile(path: path, contents: bytes)
        let root: JSONNode
        do {
            root = try JSONReader.parse(bytes)
        } catch {
            diagnostics.error(error.message, file: path, at: nil, position: error.position)
            return nil
        }
        var validator = ClientKeyFileValidator(file: path)
        validator.validate(root)
        diagnostics.merge(validator.diagnostics)
        guard validator.diagnostics.errors.isEmpty else {
            return nil
        }
        let now = self.now()
        for (key, keyPath) in zip(validator.keys, validator.keyPaths) {
            if key.isExpired(at: now), let date = key.expires {
                let message = "expired on \(date); requests with this key are refused"
                diagnostics.warning(message, file: path, at: keyPath.appending("expires"))
            }
            for (index, pattern) in key.models.enumerated()
            where !models.contains(where: { pattern.matches($0.id) }) {
                let message = "matches no configured model"
                diagnostics.warning(message, file: path, at: keyPath.appending("models").appending(index: index))
            }
        }
        return ClientKeys(file: path, keys: validator.keys, groups: validator.groups)
    }

    /// The key file's bytes; errors name the path and why, never the contents.
    private static func readKeyFile(_ path: String) throws(ConfigError) -> [UInt8] {
        do {
            return Array(try Data(contentsOf: URL(fileURLWithPath: path)))
        } catch let error as CocoaError where error.code == .fileReadNoPermission {
            throw ConfigError(file: path, message: "cannot read the client key file: permission denied")
        } catch let error as CocoaError where error.code == .fileReadNoSuchFile {
            throw ConfigError(file: path, message: "the client key file (\(Self.clientKeysVariable)) does not exist")
        } catch {
            throw ConfigError(file: path, message: "cannot read the client key file")
        }
    }
}
