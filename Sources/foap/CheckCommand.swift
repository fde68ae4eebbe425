import ArgumentParser
import FOAPConfig
import Foundation

/// `foap check`: validates the config directory exactly as `serve` would and prints the model table.
/// Exit 0 when valid (warnings allowed), 1 with one `file: path.to.key: what is wrong` line per error.
struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Validate the model configs and print the model table."
    )

    @Option(name: .long, help: "Directory of *.json model configs (env FOAP_CONFIG_DIR, default: configs).")
    var configDir: String?

    func run() throws {
        let environment = ProcessInfo.processInfo.environment
        let directory = Settings.configDirectory(option: self.configDir, environment: environment)
        let snapshot: ConfigSnapshot
        do {
            snapshot = try ConfigLoader(directory: directory, environment: environment).load()
        } catch {
            for line in error.lines {
                FileHandle.standardError.write(Data("\(line)\n".utf8))
            }
            FileHandle.standardError.write(
                Data("\(directory): invalid (\(error.errors.count) error(s), \(error.warnings.count) warning(s))\n".utf8))
            throw ExitCode(1)
        }
        print(ModelTable(snapshot: snapshot).render(), terminator: "")
        for warning in snapshot.warnings {
            FileHandle.standardError.write(Data("warning: \(warning)\n".utf8))
        }
        if let clientKeys = snapshot.clientKeys {
            print("\(clientKeys.file): \(clientKeys.keys.count) client key(s)")
            if clientKeys.keys.contains(where: { $0.limits != nil }) || !clientKeys.groups.isEmpty {
                print(LimitsTable(clientKeys: clientKeys).render(), terminator: "")
            }
        } else {
            FileHandle.standardError.write(Data("warning: \(KeylessMode.warning)\n".utf8))
        }
        let warnings = snapshot.warnings.count + (snapshot.clientKeys == nil ? 1 : 0)  // the keyless one too
        print("\(directory): OK, \(snapshot.models.count) model(s), \(warnings) warning(s)")
    }
}

/// The human table `foap check` prints: exposed id → provider, routes, upstream (never a key).
struct ModelTable {
    let snapshot: ConfigSnapshot

    func render() -> String {
        var rows = [["MODEL", "PROVIDER", "KEY", "ROUTE", "TARGET MODEL", "UPSTREAM"]]
        for model in self.snapshot.models {
            var firstOfModel = true
            for endpoint in model.endpoints {
                for (index, upstream) in endpoint.upstreams.enumerated() {
                    var target = endpoint.upstreamURL(index)
                    if endpoint.upstreams.count > 1 {
                        target += " (\(endpoint.policy.strategy.rawValue), weight \(upstream.weight))"
                    }
                    rows.append([
                        firstOfModel ? model.id : "", upstream.provider ?? model.provider.name,
                        Self.describe(model.credential(of: upstream)), index == 0 ? endpoint.path : "",
                        upstream.targetModelName, target,
                    ])
                    firstOfModel = false
                }
            }
        }
        let widths = (0..<rows[0].count).map { column in rows.map { $0[column].count }.max() ?? 0 }
        return rows.map { row in
            zip(row, widths).enumerated().map { index, pair in
                index == row.count - 1 ? pair.0 : pair.0.padding(toLength: pair.1, withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }.joined(separator: "\n") + "\n"
    }

    private static func describe(_ credential: Credential) -> String {
        switch credential {
        case .none: "none"
        case .key: "set"
        case .missing(let variable): "MISSING \(variable)"
        }
    }
}

/// Each key's limits in one compact line (`team-a: tier standard: 600 RPM, ...`), then each group's.
struct LimitsTable {
    let clientKeys: ClientKeys

    func render() -> String {
        var lines = self.clientKeys.keys.map { key in
            "  \(key.name): " + (key.limits?.summary ?? "unlimited")
        }
        lines += self.clientKeys.groups.map { "  group \($0.name): \($0.limits.summary)" }
        return lines.joined(separator: "\n") + "\n"
    }
}
