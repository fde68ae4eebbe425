/// Collects the errors and warnings of one load, so validation can go on after the first problem and
/// `foap check` can list everything at once.
struct ConfigDiagnostics: Sendable {
    private(set) var errors: [ConfigError] = []
    private(set) var warnings: [ConfigWarning] = []

    mutating func error(_ message: String, file: String, at path: ConfigKeyPath?, position: JSONPosition?) {
        self.errors.append(
            ConfigError(
                file: file,
                keyPath: path?.description,
                line: position?.line,
                column: position?.column,
                message: message
            )
        )
    }

    mutating func append(_ error: ConfigError) {
        self.errors.append(error)
    }

    mutating func warning(_ message: String, file: String, at path: ConfigKeyPath?) {
        self.warnings.append(ConfigWarning(file: file, keyPath: path?.description, message: message))
    }
}

extension ConfigDiagnostics {
    /// Appends another collection's findings after this one's.
    mutating func merge(_ other: ConfigDiagnostics) {
        self.errors += other.errors
        self.warnings += other.warnings
    }
}
