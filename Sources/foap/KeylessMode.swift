import FOAPConfig
import Logging

/// What foap says when no client key file is configured: the gateway then serves anyone who can reach its port,
/// spending the operator's upstream keys. Said at every start (master and `--workers 0`), by `foap check`, and in
/// the master's systemd STATUS line.
enum KeylessMode {
    static let warning =
        "no client keys (\(ConfigLoader.clientKeysVariable) is not set): the gateway is OPEN, anyone who can reach "
        + "it may use every model"

    /// "11 models, 3 client keys" or "11 models, OPEN (no client keys)": the config summary for STATUS and logs.
    static func summary(_ snapshot: ConfigSnapshot) -> String {
        let models = "\(snapshot.models.count) models"
        guard let keys = snapshot.clientKeys else {
            return models + ", OPEN (no client keys)"
        }
        return models + ", \(keys.keys.count) client keys"
    }

    /// The warning record, logged at every start in keyless mode.
    static func logWarning(_ logger: Logger) {
        logger.warning("keyless mode: the gateway is OPEN", metadata: ["detail": .string(Self.warning)])
    }
}
