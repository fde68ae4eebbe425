import Foundation
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// Hot reloads of the real master/worker binary while clients keep sending: nothing may be dropped.
final class ReloadUnderLoadTests: XCTestCase {
    /// Ten reloads under continuous load: odd ones by rewriting a watched file (rename, then plain overwrite, in
    /// turn), even ones by SIGHUP after changing a file inotify cannot see (the target of a symlink outside the
    /// directory), so each iteration causes exactly one reload and generation `n + 1` is the one to wait for.
    func testTenReloadsUnderContinuousLoadDropNoRequest() async throws {
        let upstream = try self.startUpstream()
        let outside = FileManager.default.temporaryDirectory.appendingPathComponent("foap-e2e-out-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: outside, withIntermediateDirectories: true)
        self.addTeardownBlock { try? FileManager.default.removeItem(at: outside) }
        let hiddenTarget = outside.appendingPathComponent("sighup.json")
        try EndToEndConfig.file(provider: "sighup", upstream: upstream.baseURL, models: ["sighup-base"])
            .write(to: hiddenTarget, atomically: true, encoding: .utf8)
        let foap = try await self.startFoap(
            files: ["models.json": EndToEndConfig.file(upstream: upstream.baseURL, models: ["chat"])]
        )
        try FileManager.default.createSymbolicLink(
            at: foap.configFile("sighup.json"),
            withDestinationURL: hiddenTarget
        )
        // The symlink's creation is itself a change: let that reload (generation 2) finish first.
        try await self.waitForReloadDone(foap, generation: 2)

        let load = LoadGenerator(baseURL: foap.baseURL, keepAliveClients: 16, freshLoops: 1)
        var fileModels = ["chat"]
        var hiddenModels = ["sighup-base"]
        for n in 1...10 {
            let model = "reload-\(n)"
            let generation = n + 2
            let bySignal = n % 2 == 0
            if bySignal {
                hiddenModels.append(model)
                let json = EndToEndConfig.file(provider: "sighup", upstream: upstream.baseURL, models: hiddenModels)
                try EndToEndConfig.writeByRename(json, to: hiddenTarget)
                foap.signal(SIGHUP)
            } else {
                fileModels.append(model)
                let json = EndToEndConfig.file(upstream: upstream.baseURL, models: fileModels)
                if n % 4 == 1 {
                    try EndToEndConfig.writeByRename(json, to: foap.configFile("models.json"))
                } else {
                    try EndToEndConfig.overwrite(json, to: foap.configFile("models.json"))
                }
            }
            try await foap.waitFor("\(model) listed on a new connection") {
                (try? await ProxyClient.shared.modelIDs(foap.baseURL).contains(model)) == true
            }
            try await self.waitForReloadDone(foap, generation: generation)
            let started = foap.log.records("reload started", where: ["generation": String(generation)])
            XCTAssertEqual(started.first?["forced"], bySignal ? "true" : "false", "reload \(n): \(started)")
            try await self.assertEveryWorkerLists(model, foap)
        }
        let report = await load.stop()
        let crashes = foap.log.records("worker exited").filter { $0["exit_status"] != "exit code 0" }
        XCTAssertEqual(report.failures.count, 0, "requests failed during reloads: \(report.summary)\n\(crashes)")
        XCTAssertGreaterThan(report.successes, 200, report.summary)
        XCTAssertEqual(foap.log.records("worker exited unexpectedly").count, 0, foap.log.tail())
        XCTAssertEqual(foap.log.records("reload failed, previous generation keeps serving").count, 0)
        XCTAssertEqual(foap.log.nonJSONLines, [])
        print("reload under load: \(report.summary)")
    }

    /// A stream that began before a reload is relayed whole by its (draining) worker, `[DONE]` included.
    func testStreamStartedBeforeReloadCompletesWhole() async throws {
        let upstream = try self.startUpstream()
        let foap = try await self.startFoap(
            files: ["models.json": EndToEndConfig.file(upstream: upstream.baseURL, models: ["chat"])]
        )
        let chunks = 60
        let response = try await ProxyClient.streams.startStream(foap.baseURL, chunks: chunks, intervalMS: 50)
        let recorder = StreamRecorder(response)
        try await foap.waitFor("the first stream event") { recorder.receivedBytes > 0 }

        let json = EndToEndConfig.file(upstream: upstream.baseURL, models: ["chat", "reload-1"])
        try EndToEndConfig.writeByRename(json, to: foap.configFile("models.json"))
        try await self.waitForReloadDone(foap, generation: 2)
        let reloadDoneSeenAt = ContinuousClock.now

        let stream = await recorder.finish()
        XCTAssertNil(stream.error)
        XCTAssertEqual(stream.text, StreamingUpstream.expectedStream(chunks: chunks))
        let lastChunkAt = try XCTUnwrap(stream.lastChunkAt)
        XCTAssertGreaterThan(lastChunkAt, reloadDoneSeenAt, "the stream ended before the reload: it proves nothing")
        let ids = try await ProxyClient.shared.modelIDs(foap.baseURL)
        XCTAssertTrue(ids.contains("reload-1"), "\(ids)")
    }

    /// An invalid file written mid-run is logged with its name, the old config keeps serving under load, and
    /// fixing the file reloads.
    func testInvalidFileKeepsOldConfigServingUntilFixed() async throws {
        let upstream = try self.startUpstream()
        let foap = try await self.startFoap(
            files: ["models.json": EndToEndConfig.file(upstream: upstream.baseURL, models: ["chat"])]
        )
        let load = LoadGenerator(baseURL: foap.baseURL, keepAliveClients: 4, freshLoops: 1)

        try EndToEndConfig.writeByRename(#"{"broken": {"models": "#, to: foap.configFile("broken.json"))
        try await foap.waitFor("an error record naming broken.json") {
            foap.log.records("invalid configuration").contains { $0["config_error"]?.contains("broken.json") == true }
        }
        for _ in 0..<10 {
            let ids = try await ProxyClient.shared.modelIDs(foap.baseURL)
            XCTAssertEqual(ids, ["chat"])
        }
        XCTAssertEqual(foap.log.records("reload started").count, 0, "an invalid config must not start workers")

        let fixed = EndToEndConfig.file(provider: "fixed", upstream: upstream.baseURL, models: ["fixed-model"])
        try EndToEndConfig.overwrite(fixed, to: foap.configFile("broken.json"))
        try await self.waitForReloadDone(foap, generation: 2)
        let ids = try await ProxyClient.shared.modelIDs(foap.baseURL)
        XCTAssertEqual(ids, ["fixed-model", "chat"], "files load in name order: broken.json, then models.json")

        let report = await load.stop()
        XCTAssertEqual(report.failures.count, 0, report.summary)
        XCTAssertGreaterThan(report.successes, 0)
    }

    // MARK: - Helpers

    /// Waits for the master's `reload done` record of `generation`: from then on only that generation accepts.
    private func waitForReloadDone(_ foap: FoapProcess, generation: Int) async throws {
        try await foap.waitFor("reload done for generation \(generation)", timeout: .seconds(20)) {
            !foap.log.records("reload done", where: ["generation": String(generation)]).isEmpty
        }
    }

    /// Twenty new connections (spread by the kernel over every slot) all list `model`.
    private func assertEveryWorkerLists(_ model: String, _ foap: FoapProcess) async throws {
        for attempt in 0..<20 {
            let ids = try await ProxyClient.shared.modelIDs(foap.baseURL)
            XCTAssertTrue(ids.contains(model), "connection \(attempt) after the reload lacks \(model): \(ids)")
        }
    }
}
