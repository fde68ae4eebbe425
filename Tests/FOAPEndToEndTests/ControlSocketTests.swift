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
