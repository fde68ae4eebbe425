import Foundation
import XCTest

@testable import FOAPConfig

/// A fresh directory under the system temporary directory, removed by `remove()` (call it in a `defer` or
/// `addTeardownBlock`). Tests write config files into it and point a `ConfigLoader` at it.
final class TemporaryConfigDirectory {
    let path: String

    init() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("foap-config-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: false)
        self.path = url.path
    }

    /// Writes `contents` to `name` inside the directory (creating subdirectories as needed).
    @discardableResult
    func write(_ name: String, _ contents: String) throws -> String {
        let filePath = self.path + "/" + name
        let parent = (filePath as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
        try Data(contents.utf8).write(to: URL(fileURLWithPath: filePath))
        return filePath
    }

    /// Creates a symlink `name` pointing at `destination` (relative or absolute).
    func symlink(_ name: String, to destination: String) throws {
        try FileManager.default.createSymbolicLink(atPath: self.path + "/" + name, withDestinationPath: destination)
    }

    func remove() {
        try? FileManager.default.removeItem(atPath: self.path)
    }
}

extension XCTestCase {
    /// A temporary config directory that is removed when the test ends.
    func makeConfigDirectory(_ files: [String: String] = [:]) throws -> TemporaryConfigDirectory {
        let directory = try TemporaryConfigDirectory()
        self.addTeardownBlock { directory.remove() }
        for (name, contents) in files {
            try directory.write(name, contents)
        }
        return directory
    }

    /// Loads `directory` with a fixed clock and the given environment.
    func load(
        _ directory: TemporaryConfigDirectory,
        environment: [String: String] = [:],
        file: StaticString = #filePath,
        line: UInt = #line
    ) throws -> ConfigSnapshotResult {
        do {
            let loader = ConfigLoader(directory: directory.path, environment: environment, now: { 1_700_000_000 })
            return .success(try loader.load())
        } catch {
            return .failure(error)
        }
    }

    /// The errors of a load that must fail, as their descriptions.
    func loadErrors(
        _ files: [String: String],
        environment: [String: String] = [:],
        file: StaticString = #filePath,
        line: UInt = #line
    ) throws -> [String] {
        let directory = try self.makeConfigDirectory(files)
        switch try self.load(directory, environment: environment) {
        case .success:
            XCTFail("expected the load to fail", file: file, line: line)
            return []
        case .failure(let error):
            return error.errors.map(\.description)
        }
    }

    /// The snapshot of a load that must succeed.
    func loadSnapshot(
        _ files: [String: String],
        environment: [String: String] = [:],
        file: StaticString = #filePath,
        line: UInt = #line
    ) throws -> ConfigSnapshot {
        let directory = try self.makeConfigDirectory(files)
        return try self.load(directory, environment: environment).get()
    }
}

typealias ConfigSnapshotResult = Result<ConfigSnapshot, ConfigLoadError>

/// A minimal valid provider file with the given endpoint JSON for model `m`.
func providerFile(endpoints: String, providerExtras: String = "") -> String {
    """
    {
      "p": {
        \(providerExtras)
        "target_base_url": "http://127.0.0.1:9",
        "models": { "m": { "endpoints": [\(endpoints)] } }
      }
    }
    """
}
