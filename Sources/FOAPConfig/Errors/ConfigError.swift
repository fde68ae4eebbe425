/// One thing wrong with the config, located precisely enough for an operator to fix it.
///
/// JSON syntax errors carry `line`/`column` and print as `file:line:column: message` (the shape compilers
/// use, so editors can jump to it). Validation errors carry a key path and print as
/// `file: path.to.key: message`; they also record the line and column of the offending value when known.
/// Messages never contain config values, so a key pasted in the wrong place is never printed.
public struct ConfigError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The file name inside the config directory, or the directory itself for directory-level errors.
    public let file: String
    /// Dotted key path of the offending key, e.g. `openAI.models.gpt-4o.endpoints[1].target_model_name`.
    public let keyPath: String?
    public let line: Int?
    public let column: Int?
    public let message: String

    public init(file: String, keyPath: String? = nil, line: Int? = nil, column: Int? = nil, message: String) {
        self.file = file
        self.keyPath = keyPath
        self.line = line
        self.column = column
        self.message = message
    }

    public var description: String {
        if let keyPath = self.keyPath {
            return "\(self.file): \(keyPath): \(self.message)"
        }
        if let line = self.line {
            return "\(self.file):\(line):\(self.column ?? 1): \(self.message)"
        }
        return "\(self.file): \(self.message)"
    }
}

/// A load that failed, with every error found rather than just the first, so one `foap check` run shows
/// the operator everything to fix.
public struct ConfigLoadError: Error, Sendable, Equatable, CustomStringConvertible {
    /// In the order found: sorted file names, then position in the file. Never empty.
    public let errors: [ConfigError]
    /// What the same load found suspicious: a misspelt key is listed here as an unknown one while the error names
    /// the key it left missing, so the two are shown together.
    public let warnings: [ConfigWarning]

    public init(errors: [ConfigError], warnings: [ConfigWarning] = []) {
        precondition(!errors.isEmpty, "a ConfigLoadError needs at least one error")
        self.errors = errors
        self.warnings = warnings
    }

    /// One error per line, then one `warning: …` line per warning.
    public var lines: [String] {
        self.errors.map(\.description) + self.warnings.map { "warning: \($0)" }
    }

    public var description: String {
        self.lines.joined(separator: "\n")
    }
}
