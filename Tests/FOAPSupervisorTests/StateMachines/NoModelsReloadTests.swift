import XCTest

@testable import FOAPSupervisor

/// A reload that would take every model away (every file deleted, a volume not mounted) is refused while models
/// serve; only `foap ctl reload --force` applies it. `forced` (start a generation even if unchanged) is not that.
final class NoModelsReloadTests: XCTestCase, SupervisorMachineFixture {
    let t0 = ContinuousClock.now
    let refusedStatus = "generation 1, 1/1 workers ready, 2 models, "
        + "last reload: refused: the new config has no models (foap ctl reload --force applies it)"
    let refusal = "refused: the new config has no models; generation 1 keeps serving its 2 "
        + "(foap ctl reload --force applies it)"

    func testFileChangeToNoModelsIsRefusedUntilTheFileComesBack() {
        var machine = self.makeSingleSlotRunning()
        XCTAssertEqual(machine.reloadRequested(forced: false), [.loadConfig(forced: false)])
        XCTAssertEqual(
            machine.configLoaded(self.loaded("empty", models: 0), forced: false, now: self.t0),
            [.log(.reloadRefusedNoModels(generation: 1, activeModels: 2)), .notifyStatus(self.refusedStatus)]
        )
        XCTAssertEqual(machine.activeGeneration, 1)
        XCTAssertEqual(machine.activeConfig.digest, "a")
        XCTAssertEqual(machine.reload, .idle)
        // The file is back: the directory is what generation 1 serves, and the refusal leaves the status.
        _ = machine.reloadRequested(forced: false)
        XCTAssertEqual(
            machine.configLoaded(self.loaded("a"), forced: false, now: self.t0),
            [
                .log(.configUnchanged),
                .notifyStatus("generation 1, 1/1 workers ready, 2 models, last reload: ok (unchanged, generation 1)"),
            ]
        )
    }

    func testSighupTwiceIsNotAForce() {
        var machine = self.makeSingleSlotRunning()
        XCTAssertEqual(
            machine.reloadRequested(forced: true),
            [.notifyReloading(status: "reloading: loading configuration"), .loadConfig(forced: true)]
        )
        XCTAssertEqual(machine.reloadRequested(forced: true), [], "the second SIGHUP queues behind the first")
        XCTAssertEqual(
            machine.configLoaded(self.loaded("empty", models: 0), forced: true, now: self.t0),
            [.log(.reloadRefusedNoModels(generation: 1, activeModels: 2)), .loadConfig(forced: true)]
        )
        XCTAssertEqual(
            machine.configLoaded(self.loaded("empty", models: 0), forced: true, now: self.t0),
            [.log(.reloadRefusedNoModels(generation: 1, activeModels: 2)), .notifyReady(status: self.refusedStatus)]
        )
        XCTAssertEqual(machine.activeGeneration, 1)
        XCTAssertEqual(machine.lastGeneration, 1, "no generation was started for it")
    }

    func testRefusedReloadAnswersItsWaiterWithWhy() {
        var machine = self.makeSingleSlotRunning()
        let waiter = ControlClientID(rawValue: 1)
        _ = machine.reloadRequested(forced: true, waiter: waiter)
        XCTAssertEqual(
            machine.configLoaded(self.loaded("empty", models: 0), forced: true, now: self.t0),
            [
                .log(.reloadRefusedNoModels(generation: 1, activeModels: 2)),
                .answerReload(waiter, .failed([self.refusal])),
                .notifyReady(status: self.refusedStatus),
            ]
        )
    }

    func testCtlReloadForceAppliesIt() {
        var machine = self.makeSingleSlotRunning()
        let waiter = ControlClientID(rawValue: 1)
        XCTAssertEqual(
            machine.reloadRequested(forced: true, allowingNoModels: true, waiter: waiter),
            [
                .notifyReloading(status: "reloading: loading configuration"),
                .loadConfig(forced: true, allowingNoModels: true),
            ]
        )
        let started = machine.configLoaded(
            self.loaded("empty", models: 0), forced: true, allowingNoModels: true, now: self.t0
        )
        XCTAssertEqual(started.first, .log(.reloadStarted(generation: 2, forced: true)))
        XCTAssertTrue(started.contains(.spawnWorker(self.id(2), slot: 0, generation: 2)))
        let done = self.completeReload(&machine, newWorker: 2, oldWorker: 1)
        XCTAssertTrue(done.contains(.answerReload(waiter, .served(generation: 2))))
        XCTAssertEqual(
            done.last, .notifyReady(status: "generation 2, 1/1 workers ready, 0 models, last reload: ok (generation 2)")
        )
        // No model serves now, so the next empty config takes nothing away: not refused.
        _ = machine.reloadRequested(forced: false)
        XCTAssertEqual(
            machine.configLoaded(self.loaded("empty-2", models: 0), forced: false, now: self.t0).first,
            .log(.reloadStarted(generation: 3, forced: false))
        )
    }

    func testForceQueuedBehindAReloadInFlightIsKeptWhenAFileChangeJoinsIt() {
        var machine = self.makeSingleSlotRunning()
        _ = machine.reloadRequested(forced: false)
        _ = machine.configLoaded(self.loaded("b"), forced: false, now: self.t0)
        XCTAssertEqual(machine.reloadRequested(forced: true, allowingNoModels: true), [])
        XCTAssertEqual(machine.reloadRequested(forced: false), [])
        let first = self.completeReload(&machine, newWorker: 2, oldWorker: 1)
        XCTAssertEqual(first.last, .loadConfig(forced: true, allowingNoModels: true))
        let next = machine.configLoaded(
            self.loaded("empty", models: 0), forced: true, allowingNoModels: true, now: self.t0
        )
        XCTAssertEqual(next.first, .log(.reloadStarted(generation: 3, forced: true)))
        // The force was for that one reload: the next one refuses again.
        _ = self.completeReload(&machine, newWorker: 3, oldWorker: 2)
        XCTAssertEqual(machine.activeConfig.models, 0)
        _ = machine.reloadRequested(forced: false)
        _ = machine.configLoaded(self.loaded("c"), forced: false, now: self.t0)
        _ = self.completeReload(&machine, newWorker: 4, oldWorker: 3)
        _ = machine.reloadRequested(forced: true)
        XCTAssertEqual(
            machine.configLoaded(self.loaded("empty", models: 0), forced: true, now: self.t0).first,
            .log(.reloadRefusedNoModels(generation: 4, activeModels: 2))
        )
    }

    func testFirstStartWithNoModelsServesWithTheLoadersWarning() {
        var machine = SupervisorStateMachine(workerCount: 1, timeouts: self.timeouts)
        let warning = "configs: no *.json files in the config directory"
        let outcome = ConfigLoadOutcome.loaded(
            snapshot: [], digest: "empty", summary: "0 models", models: 0, warnings: [warning]
        )
        XCTAssertEqual(
            machine.started(outcome: outcome, now: self.t0),
            [
                .log(.configWarnings([warning])),
                .log(.started(generation: 1, summary: "0 models")),
                .keepSnapshot(generation: 1, []),
                .spawnWorker(self.id(1), slot: 0, generation: 1),
            ]
        )
    }
}
