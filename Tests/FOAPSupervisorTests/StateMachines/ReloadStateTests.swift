import XCTest

@testable import FOAPSupervisor

/// The reload in flight is one value (`Reload`) that carries its waiters and its RELOADING=1 through every phase;
/// the snapshot a generation needs is an action (`keepSnapshot`) before its spawns; the master's counters move where
/// the state they count changes.
final class ReloadStateTests: XCTestCase, SupervisorMachineFixture {
    let t0 = ContinuousClock.now

    func testTheReloadCarriesItsWaiterAndAnnouncementThroughEveryPhase() {
        var machine = self.makeSingleSlotRunning()
        let waiter = ControlClientID(rawValue: 3)
        let run = SupervisorStateMachine.ReloadRun(waiters: [waiter], announced: true)
        XCTAssertEqual(machine.reload, .idle)
        XCTAssertFalse(machine.reloadingAnnounced)
        _ = machine.reloadRequested(forced: true, waiter: waiter)
        XCTAssertEqual(machine.reload, .loadingConfig(run))
        XCTAssertTrue(machine.reloadingAnnounced)
        XCTAssertEqual(
            machine.configLoaded(self.loaded("b"), forced: true, now: self.t0),
            [
                .log(.reloadStarted(generation: 2, forced: true)),
                .notifyStatus("reloading: starting generation 2"),
                .keepSnapshot(generation: 2, Array("b".utf8)),
                .spawnWorker(self.id(2), slot: 0, generation: 2),
            ]
        )
        let config = SupervisorStateMachine.LoadedConfig(digest: "b", summary: "2 models", models: 2)
        XCTAssertEqual(
            machine.reload, .startingNext(generation: 2, config: config, startedAt: self.t0, forced: true, run: run)
        )
        _ = machine.workerSpawned(self.id(2), pid: 102)
        XCTAssertEqual(
            machine.messageReceived(.ready, from: self.id(2), now: self.t0 + .seconds(1)),
            [
                .log(.workerReady(self.id(2), slot: 0, generation: 2)),
                .log(.allWorkersReady(generation: 2)),
                .releaseSnapshot(generation: 1),
                .send(.drain, to: self.id(1)),
            ]
        )
        XCTAssertEqual(machine.reload, .drainingOld(generation: 2, startedAt: self.t0, waiting: [self.id(1)], run: run))
        XCTAssertEqual(
            machine.messageReceived(.draining, from: self.id(1), now: self.t0 + .seconds(2)),
            [
                .log(.workerDraining(self.id(1), slot: 0, generation: 1)),
                .send(.accept, to: self.id(2)),
                .log(.reloadDone(generation: 2, duration: .seconds(2))),
                .answerReload(waiter, .served(generation: 2)),
                .notifyReady(status: "generation 2, 1/1 workers ready, 2 models, last reload: ok (generation 2)"),
            ]
        )
        XCTAssertEqual(machine.reload, .idle)
        XCTAssertFalse(machine.reloadingAnnounced)
    }

    /// Only a load that starts a generation keeps a snapshot; a refused, invalid or unchanged one keeps none.
    func testOnlyAStartedGenerationKeepsASnapshot() {
        let keeps: (SupervisorAction) -> Bool = { if case .keepSnapshot = $0 { true } else { false } }
        let loads: [(ConfigLoadOutcome, Bool, Int?)] = [
            (self.loaded("a"), false, nil),
            (.failed(errors: ["x.json: bad"]), true, nil),
            (self.loaded("empty", models: 0), true, nil),
            (self.loaded("c"), false, 2),
        ]
        var machine = self.makeSingleSlotRunning()
        for (outcome, forced, generation) in loads {
            _ = machine.reloadRequested(forced: forced)
            let actions = machine.configLoaded(outcome, forced: forced, now: self.t0)
            let expected = generation.map { [SupervisorAction.keepSnapshot(generation: $0, Array("c".utf8))] } ?? []
            XCTAssertEqual(actions.filter(keeps), expected)
            if let index = actions.firstIndex(where: keeps) {
                XCTAssertTrue(actions[index...].contains(.spawnWorker(self.id(2), slot: 0, generation: 2)))
                XCTAssertFalse(actions[..<index].contains { if case .spawnWorker = $0 { true } else { false } })
            }
        }
    }

    func testCountersMoveWhereTheStateChanges() {
        var machine = self.makeSingleSlotRunning()
        typealias Counters = SupervisorStateMachine.Counters
        XCTAssertEqual(machine.counters, Counters())
        // An unchanged load counts nothing; an invalid one and a refused one are failed reloads.
        _ = machine.configLoaded(self.loaded("a"), forced: false, now: self.t0)
        _ = machine.configLoaded(.failed(errors: ["x.json: bad"]), forced: false, now: self.t0)
        _ = machine.configLoaded(self.loaded("empty", models: 0), forced: false, now: self.t0)
        XCTAssertEqual(machine.counters, Counters(reloadsFailed: 2))
        // A generation that dies before ready is a failed reload, not a restart.
        _ = machine.configLoaded(self.loaded("b"), forced: false, now: self.t0)
        _ = machine.workerSpawned(self.id(2), pid: 102)
        _ = machine.workerExited(pid: 102, status: .exited(code: 1), now: self.t0)
        XCTAssertEqual(machine.counters, Counters(reloadsFailed: 3))
        // A reload that serves.
        _ = machine.configLoaded(self.loaded("b"), forced: false, now: self.t0)
        _ = self.completeReload(&machine, newWorker: 3, oldWorker: 1)
        XCTAssertEqual(machine.counters, Counters(reloadsSucceeded: 1, reloadsFailed: 3))
        // The drained old worker's exit is expected: no restart.
        _ = machine.workerExited(pid: 101, status: .exited(code: 0), now: self.t0)
        XCTAssertEqual(machine.counters.workerRestarts, 0)
        // A crash of the serving generation is a restart.
        _ = machine.workerExited(pid: 103, status: .signaled(signal: SIGSEGV), now: self.t0 + .seconds(1))
        XCTAssertEqual(machine.counters.workerRestarts, 1)
        // A missed heartbeat is one restart: the kill counts, the exit it causes does not again.
        _ = machine.workerSpawned(self.id(4), pid: 104)
        _ = machine.messageReceived(.ready, from: self.id(4), now: self.t0 + .seconds(1))
        XCTAssertTrue(machine.tick(now: self.t0 + .seconds(10)).contains(.killWorker(self.id(4), pid: 104)))
        _ = machine.workerExited(pid: 104, status: .signaled(signal: SIGKILL), now: self.t0 + .seconds(10))
        XCTAssertEqual(machine.counters.workerRestarts, 2)
        // A shutdown that cuts a starting generation short fails that reload.
        _ = machine.workerSpawned(self.id(5), pid: 105)
        _ = machine.messageReceived(.ready, from: self.id(5), now: self.t0 + .seconds(10))
        _ = machine.configLoaded(self.loaded("c"), forced: false, now: self.t0 + .seconds(10))
        _ = machine.shutdownRequested(now: self.t0 + .seconds(10))
        XCTAssertEqual(machine.counters, Counters(reloadsSucceeded: 1, reloadsFailed: 4, workerRestarts: 2))
    }
}
