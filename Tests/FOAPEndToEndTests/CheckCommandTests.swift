import Foundation
import XCTest

/// `foap check` run as a user runs it: the real binary, its output and exit code.
final class CheckCommandTests: XCTestCase {
    func testValidDirectoryPrintsTheModelTableAndExitsZero() throws {
        let directory = try temporaryDirectory()
        try #"{"p":{"target_base_url":"http://127.0.0.1:9","models":{"m/1":{"endpoints":[{"path":"v1/embeddings","target_model_name":"up"}]}}}}"#
            .write(to: directory.appendingPathComponent("a.json"), atomically: true, encoding: .utf8)
        let result = try runFoap(["check", "--config-dir", directory.path])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stdout.contains("m/1"), result.stdout)
        XCTAssertTrue(result.stdout.contains("http://127.0.0.1:9/v1/embeddings"), result.stdout)
        // Keyless: the warning printed is the warning counted.
        XCTAssertTrue(result.stderr.contains("the gateway is OPEN"), result.stderr)
        XCTAssertTrue(result.stdout.contains("OK, 1 model(s), 1 warning(s)"), result.stdout)
    }

    func testInvalidDirectoryPrintsFileAndKeyPathAndExitsNonZero() throws {
        let directory = try temporaryDirectory()
        try #"{"p":{"target_base_url":"http://127.0.0.1:9","models":{"m":{"endpoints":[{"path":"v1/embeddings"}]}}}}"#
            .write(to: directory.appendingPathComponent("bad.json"), atomically: true, encoding: .utf8)
        let result = try runFoap(["check", "--config-dir", directory.path])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(
            result.stderr.contains("bad.json: p.models.m.endpoints[0].target_model_name"),
            result.stderr
        )
    }

    /// A misspelt key is an unknown key (a warning) that leaves a required one missing (an error): both are printed,
    /// so the operator sees the typo, not only the key it left out.
    func testAnInvalidDirectoryStillListsItsUnknownKeys() throws {
        let directory = try temporaryDirectory()
        try #"{"p":{"target_base_url":"http://127.0.0.1:9","models":{"m":{"endpoints":[{"path":"v1/embeddings","target_model_nam":"up"}]}}}}"#
            .write(to: directory.appendingPathComponent("typo.json"), atomically: true, encoding: .utf8)
        let result = try runFoap(["check", "--config-dir", directory.path])
        XCTAssertEqual(result.status, 1, result.stderr)
        XCTAssertTrue(result.stderr.contains("typo.json: p.models.m.endpoints[0].target_model_name"), result.stderr)
        XCTAssertTrue(result.stderr.contains("warning: typo.json: p.models.m.endpoints[0].target_model_nam"), result.stderr)
        XCTAssertTrue(result.stderr.contains("invalid (1 error(s), 1 warning(s))"), result.stderr)
    }

    /// What `docker run -v "$PWD/models.json:/configs/models.json"` leaves when the host file is missing.
    func testDirectoryNamedLikeAConfigFileIsAnError() throws {
        let directory = try temporaryDirectory()
        try FileManager.default.createDirectory(
            at: directory.appendingPathComponent("models.json"), withIntermediateDirectories: false
        )
        let result = try runFoap(["check", "--config-dir", directory.path])
        XCTAssertEqual(result.status, 1, result.stdout)
        XCTAssertTrue(result.stderr.contains("models.json: is a directory, not a config file"), result.stderr)
    }

    func testEachKeysLimitsArePrintedCompactly() throws {
        let directory = try temporaryDirectory()
        try #"{"p":{"target_base_url":"http://127.0.0.1:9","models":{"m":{"endpoints":[{"path":"v1/embeddings","target_model_name":"up"}]}}}}"#
            .write(to: directory.appendingPathComponent("a.json"), atomically: true, encoding: .utf8)
        let hash = String(repeating: "ab", count: 32)
        let keys = directory.appendingPathComponent("keys/clients.json")
        try FileManager.default.createDirectory(at: keys.deletingLastPathComponent(), withIntermediateDirectories: true)
        try """
            {"limit_tiers": {"standard": {"requests_per_minute": 600, "tokens_per_day": 5000000}},
             "limit_groups": {"research": {"concurrent_requests": 96}},
             "keys": [{"name": "team-a", "sha256": "\(hash)", "models": ["*"],
                       "limits": {"tier": "standard", "group": "research", "models": {"m*": {"tokens_per_minute": 100}}}},
                      {"name": "ops", "sha256": "\(String(repeating: "cd", count: 32))", "models": ["*"]}]}
            """.write(to: keys, atomically: true, encoding: .utf8)
        let result = try runFoap(["check", "--config-dir", directory.path], environment: ["FOAP_CLIENT_KEYS": keys.path])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(
            result.stdout.contains(
                "  team-a: tier standard: 600 RPM, 5000000 tokens/day; group research; m*: 100 TPM\n"
                    + "  ops: unlimited\n  group research: 96 concurrent\n"
            ),
            result.stdout
        )
    }

    func testLimitsWithoutKeysAreAWarning() throws {
        let directory = try temporaryDirectory()
        try #"{"p":{"target_base_url":"http://127.0.0.1:9","models":{"m":{"endpoints":[{"path":"v1/embeddings","target_model_name":"up"}]}}}}"#
            .write(to: directory.appendingPathComponent("a.json"), atomically: true, encoding: .utf8)
        let keys = directory.appendingPathComponent("clients.keys")
        try #"{"limit_tiers": {"t": {"requests_per_minute": 1}}, "keys": []}"#.write(to: keys, atomically: true, encoding: .utf8)
        let result = try runFoap(["check", "--config-dir", directory.path], environment: ["FOAP_CLIENT_KEYS": keys.path])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stderr.contains("limit_tiers: limits apply to client keys, and there are none"), result.stderr)
    }

    private func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("foap-check-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        self.addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }
}

/// Runs the real binary to completion and captures its output.
func runFoap(_ arguments: [String], environment: [String: String] = [:]) throws -> (
    status: Int32, stdout: String, stderr: String
) {
    let process = Process()
    process.executableURL = FoapBinary.url
    process.arguments = arguments
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    let out = Pipe()
    let err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let stdout = out.fileHandleForReading.readDataToEndOfFile()
    let stderr = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: stdout, as: UTF8.self), String(decoding: stderr, as: UTF8.self))
}
