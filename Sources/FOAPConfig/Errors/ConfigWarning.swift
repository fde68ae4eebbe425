/// Something an operator should see that does not stop the config from loading: an unknown key, an
/// unset key variable, an empty directory.
///
/// Prints like ``ConfigError`` (`file: path.to.key: message`) and, like it, never contains config values.
public struct ConfigWarning: Sendable, Equatable, Codable, CustomStringConvertible {
    /// The file name inside the config directory, or the directory itself for directory-level warnings.
    public let file: String
    public let keyPath: String?
    public let message: String

    public init(file: String, keyPath: String? = nil, message: String) {
        self.file = file
        self.keyPath = keyPath
        self.message = message
    }

    public var description: String {
        if let keyPath = self.keyPath {
            return "\(self.file): \(keyPath): \(self.message)"
        }
        return "\(self.file): \(self.message)"
    }
}
