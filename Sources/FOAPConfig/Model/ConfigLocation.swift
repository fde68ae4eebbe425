/// Where in the config directory something is defined: a file name and a key path inside it.
///
/// Used to name both places when a model id is defined twice, and by `foap check` output.
public struct ConfigLocation: Sendable, Equatable, Codable, CustomStringConvertible {
    /// The file name inside the config directory, e.g. `openAI-example.json`.
    public let file: String
    /// Dotted key path inside the file, e.g. `openAI.models.gpt-4o`. Keys are written as is, even when
    /// they contain dots or slashes, because that is what an operator searches for in the file.
    public let keyPath: String

    public init(file: String, keyPath: String) {
        self.file = file
        self.keyPath = keyPath
    }

    /// `file: keyPath`, the same shape as validation messages.
    public var description: String {
        "\(self.file): \(self.keyPath)"
    }
}
