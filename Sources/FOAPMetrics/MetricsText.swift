/// The Prometheus text exposition format, shared by the worker (its own series) and the master (its series and
/// the sum of every worker's): one writer of numbers and labels instead of one per process role.
/// Builds Prometheus text exposition (version 0.0.4): `# HELP`, `# TYPE`, then `name{label="value"} number` lines.
public struct MetricsText {
    public private(set) var output = ""

    public init() {}

    public mutating func family(_ name: String, _ type: String, _ help: String) {
        self.output += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
    }

    public mutating func sample(_ name: String, _ labels: [(String, String)], _ value: Double) {
        self.output += name
        if !labels.isEmpty {
            self.output += "{" + labels.map { "\($0.0)=\"\(Self.escape($0.1))\"" }.joined(separator: ",") + "}"
        }
        self.output += " " + Self.number(value) + "\n"
    }

    /// Backslash, quote and newline escaped, as the format requires for label values.
    public static func escape(_ value: String) -> String {
        guard value.contains(where: { $0 == "\\" || $0 == "\"" || $0 == "\n" }) else { return value }
        var escaped = ""
        for character in value {
            switch character {
            case "\\": escaped += "\\\\"
            case "\"": escaped += "\\\""
            case "\n": escaped += "\\n"
            default: escaped.append(character)
            }
        }
        return escaped
    }

    /// Whole numbers without a fraction (counters), others as Swift prints them.
    public static func number(_ value: Double) -> String {
        if value == value.rounded(), abs(value) < 1e15 {
            return String(Int64(value))
        }
        return String(value)
    }
}
