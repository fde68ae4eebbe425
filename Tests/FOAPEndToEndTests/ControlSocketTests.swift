import Foundation
import XCTest

/// `foap ctl` against the real master: what `systemctl reload` (ExecReload=foap ctl reload --wait) relies on.
final class ControlSocketTests: XCTestCase {
    func testReloadWaitReturnsOnceTheNewConfigServesAndFailsWithTheErrorsOfABadOne() async throws {
        let upstream = try self.startUpstream()
        let socketPath = self.controlSocketPath()
        let foap = try await self.startFoap(
            workers: 2,
            files: ["models.json": EndToEndConfig.file(upstream: upstream.baseURL, models: ["chat"])],
            environment: ["FOAP_CONTROL_SOCKET": socketPath]
        )
        let ctl = ["ctl", "--socket", socketPath]
        let status = try runFoap(ctl + ["status"])
        XCTAssertEqual(status.status, 0, status.stderr)
        XCTAssertTrue(status.stdout.contains("generation: 1\n"), status.stdout)
        XCTAssertTrue(status.stdout.contains("workers: 2/2 ready"), status.stdout)

        // Like `systemctl reload` right after an edit: the file change and the request race; --wait must return only
        // once a generation that read the edited file serves, on every new connection.
        for round in 1...3 {
            let models = ["chat"] + (1...round).map { "added-\($0)" }
            try EndToEndConfig.writeByRename(
                EndToEndConfig.file(upstream: upstream.baseURL, models: models),
                to: foap.configFile("models.json")
            )
            let reload = try runFoap(ctl + ["reload", "--wait"])
            XCTAssertEqual(reload.status, 0, "round \(round): \(reload.stderr)")
            XCTAssertTrue(reload.stdout.contains("serves the current configuration"), reload.stdout)
            for attempt in 0..<6 {
                let ids = try await ProxyClient.shared.modelIDs(foap.baseURL)
                XCTAssertTrue(ids.contains("added-\(round)"), "round \(round), connection \(attempt): \(ids)")
            }
        }

        try EndToEndConfig.writeByRename(#"{"broken": {"models": "#, to: foap.configFile("broken.json"))
        let refused = try runFoap(ctl + ["reload", "--wait"])
        XCTAssertEqual(refused.status, 1)
        XCTAssertTrue(refused.stderr.contains("broken.json"), refused.stderr)
        let ids = try await ProxyClient.shared.modelIDs(foap.baseURL)
        XCTAssertTrue(ids.contains("added-3"), "the running config keeps serving: \(ids)")
        let after = try runFoap(ctl + ["status"])
        XCTAssertTrue(after.stdout.contains("last_reload: config invalid: broken.json"), after.stdout)

        let unknown = try runFoap(["ctl", "--socket", socketPath + ".missing", "status"])
        XCTAssertEqual(unknown.status, 2)
        XCTAssertTrue(unknown.stderr.contains("connect"), unknown.stderr)
    }

    /// A reload must not quietly take every model away: a `models.json` that became a directory (`docker run -v`
    /// of a missing host file) is an invalid config, and an empty directory is refused while models serve, until
    /// `foap ctl reload --force` says it is meant.
    func testReloadThatLosesEveryModelIsRefusedUnlessForced() async throws {
        let upstream = try self.startUpstream()
        let socketPath = self.controlSocketPath()
        let foap = try await self.startFoap(
            workers: 1,
            files: ["models.json": EndToEndConfig.file(upstream: upstream.baseURL, models: ["chat"])],
            environment: ["FOAP_CONTROL_SOCKET": socketPath]
        )
        let ctl = ["ctl", "--socket", socketPath]
        let file = foap.configFile("models.json")

        try FileManager.default.removeItem(at: file)
        try FileManager.default.createDirectory(at: file, withIntermediateDirectories: false)
        let directory = try runFoap(ctl + ["reload", "--wait"])
        XCTAssertEqual(directory.status, 1, directory.stdout)
        XCTAssertTrue(directory.stderr.contains("models.json: is a directory, not a config file"), directory.stderr)
        var ids = try await ProxyClient.shared.modelIDs(foap.baseURL)
        XCTAssertEqual(ids, ["chat"], "the running config keeps serving")

        try FileManager.default.removeItem(at: file)
        let empty = try runFoap(ctl + ["reload", "--wait"])
        XCTAssertEqual(empty.status, 1, empty.stdout)
        XCTAssertTrue(empty.stderr.contains("has no models"), empty.stderr)
        XCTAssertTrue(empty.stderr.contains("foap ctl reload --force"), empty.stderr)
        ids = try await ProxyClient.shared.modelIDs(foap.baseURL)
        XCTAssertEqual(ids, ["chat"], "the running config keeps serving")
        let refused = try runFoap(ctl + ["status"])
        XCTAssertTrue(refused.stdout.contains("generation: 1\n"), refused.stdout)
        XCTAssertTrue(refused.stdout.contains("last_reload: refused: the new config has no models"), refused.stdout)

        let forced = try runFoap(ctl + ["reload", "--wait", "--force"])
        XCTAssertEqual(forced.status, 0, forced.stderr)
        ids = try await ProxyClient.shared.modelIDs(foap.baseURL)
        XCTAssertEqual(ids, [], "forced: the empty config serves")
        let after = try runFoap(ctl + ["status"])
        XCTAssertTrue(after.stdout.contains("generation: 2\n"), after.stdout)
        XCTAssertTrue(after.stdout.contains("config: 0 models"), after.stdout)
    }

    func testDrainStopsTheMasterAndRemovesTheSocket() async throws {
        let upstream = try self.startUpstream()
        let socketPath = self.controlSocketPath()
        let foap = try await self.startFoap(
            workers: 1,
            files: ["models.json": EndToEndConfig.file(upstream: upstream.baseURL, models: ["chat"])],
            environment: ["FOAP_CONTROL_SOCKET": socketPath]
        )
        let drain = try runFoap(["ctl", "--socket", socketPath, "drain"])
        XCTAssertEqual(drain.status, 0, drain.stderr)
        try await foap.waitFor("the master exits") { !foap.isRunning }
        XCTAssertEqual(foap.terminationStatus, 0)
        XCTAssertFalse(FileManager.default.fileExists(atPath: socketPath))
    }
}
