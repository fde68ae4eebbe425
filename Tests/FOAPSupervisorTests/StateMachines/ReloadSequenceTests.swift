import XCTest

@testable import FOAPSupervisor

/// Reloads that arrive while another runs (issue 13): systemd hears READY=1 only once the newest config serves.
///
/// The failure these pin down: `systemctl reload` right after a file change. The inotify reload was already running
/// on the config as it was before, SIGHUP queued behind it, and the first reload's READY=1 ended systemd's reload
/// job while the older generation served.
final class ReloadSequenceTests: XCTestCase, SupervisorMachineFixture {
    let t0 = ContinuousClock.now

    func testFileChangeThenSighupSendsReadyOnlyAfterTheGenerationThatReadTheConfigAfterTheSignal() {
        var machine = self.makeSingleSlotRunning()
        // The debounced file change starts generation 2 on config "b".
        XCTAssertEqual(machine.reloadRequested(forced: false), [.loadConfig(forced: false)])
        let started = machine.configLoaded(self.loaded("b"), forced: false, now: self.t0)
        XCTAssertTrue(started.contains(.notifyReloading(status: "reloading: starting generation 2")))
        // systemctl reload: SIGHUP while generation 2 starts. Queued, no second RELOADING=1.
        XCTAssertEqual(machine.reloadRequested(forced: true), [])
        // Generation 2 serves, but the SIGHUP's reload has not run: no READY=1, the queued one starts at once.
        let first = self.completeReload(&machine, newWorker: 2, oldWorker: 1)
        XCTAssertFalse(first.contains(where: \.isReady), "READY=1 for a generation older than the SIGHUP: \(first)")
        XCTAssertEqual(first.last, .loadConfig(forced: true))
        // The SIGHUP's load is out, and the RELOADING=1 of the first reload stays in force for it.
        XCTAssertEqual(machine.reload, .loadingConfig(.init(waiters: [], announced: true)))
        // The SIGHUP's reload reads config "c" and starts generation 3; still no READY=1 and no new RELOADING=1.
        let next = machine.configLoaded(self.loaded("c"), forced: true, now: self.t0)
        XCTAssertFalse(next.contains(where: \.isReady))
        XCTAssertFalse(next.contains(.notifyReloading(status: "reloading: starting generation 3")))
        XCTAssertTrue(next.contains(.notifyStatus("reloading: starting generation 3")))
        let second = self.completeReload(&machine, newWorker: 3, oldWorker: 2)
        XCTAssertEqual(second.filter(\.isReady).count, 1)
        XCTAssertEqual(
            second.last,
            .notifyReady(status: "generation 3, 1/1 workers ready, 2 models, last reload: ok (generation 3)")
        )
        XCTAssertEqual(machine.activeConfig.digest, "c")
    }

    func testSighupTwiceRunsTwoReloadsAndSendsOneReadyAtTheEnd() {
        var machine = self.makeSingleSlotRunning()
        var actions = machine.reloadRequested(forced: true)
        XCTAssertEqual(actions, [.notifyReloading(status: "reloading: loading configuration"), .loadConfig(forced: true)])
        actions = machine.configLoaded(self.loaded("b"), forced: true, now: self.t0)
        XCTAssertEqual(machine.reloadRequested(forced: true), [], "the second SIGHUP waits for the first reload")
        actions = self.completeReload(&machine, newWorker: 2, oldWorker: 1)
        XCTAssertFalse(actions.contains(where: \.isReady))
        XCTAssertFalse(actions.contains(where: \.isReloading), "one RELOADING=1 for the whole sequence")
        XCTAssertEqual(actions.last, .loadConfig(forced: true))
        // Forced: a generation even though the config is the same.
        actions = machine.configLoaded(self.loaded("b"), forced: true, now: self.t0)
        XCTAssertTrue(actions.contains(.spawnWorker(self.id(3), slot: 0, generation: 3)))
        actions = self.completeReload(&machine, newWorker: 3, oldWorker: 2)
        XCTAssertEqual(actions.filter(\.isReady).count, 1)
        XCTAssertEqual(machine.activeGeneration, 3)
        XCTAssertFalse(machine.reloadingAnnounced)
    }

    func testQueuedChangeThatFindsNothingNewStillEndsTheAnnouncedReloadWithReady() {
        var machine = self.makeSingleSlotRunning()
        _ = machine.reloadRequested(forced: true)
        _ = machine.configLoaded(self.loaded("b"), forced: true, now: self.t0)
        // The file change of the same edit is debounced into a queued, unforced reload.
        XCTAssertEqual(machine.reloadRequested(forced: false), [])
        let actions = self.completeReload(&machine, newWorker: 2, oldWorker: 1)
        XCTAssertEqual(actions.last, .loadConfig(forced: false))
        XCTAssertFalse(actions.contains(where: \.isReady))
        XCTAssertEqual(
            machine.configLoaded(self.loaded("b"), forced: false, now: self.t0),
            [
                .log(.configUnchanged),
                .notifyReady(status: "generation 2, 1/1 workers ready, 2 models, last reload: ok (generation 2)"),
            ]
        )
    }

    func testControlWaiterIsAnsweredByTheReloadThatReadTheConfigAfterItsRequest() {
        var machine = self.makeSingleSlotRunning()
        let early = ControlClientID(rawValue: 1)
        let late = ControlClientID(rawValue: 2)
        _ = machine.reloadRequested(forced: true, waiter: early)
        _ = machine.configLoaded(self.loaded("b"), forced: true, now: self.t0)
        XCTAssertEqual(machine.reloadRequested(forced: true, waiter: late), [])
        let first = self.completeReload(&machine, newWorker: 2, oldWorker: 1)
        XCTAssertTrue(first.contains(.answerReload(early, .served(generation: 2))))
        XCTAssertFalse(first.contains(where: { if case .answerReload(late, _) = $0 { true } else { false } }))
        let invalid = machine.configLoaded(.failed(errors: ["b.json: models: bad"]), forced: true, now: self.t0)
        XCTAssertEqual(
            invalid,
            [
                .log(.configInvalid(errors: ["b.json: models: bad"])),
                .answerReload(late, .failed(["b.json: models: bad"])),
                .notifyReady(
                    status: "generation 2, 1/1 workers ready, 2 models, last reload: config invalid: b.json: models: bad"
                ),
            ]
        )
    }

    func testShutdownAnswersEveryWaiter() {
        var machine = self.makeSingleSlotRunning()
        let waiter = ControlClientID(rawValue: 7)
        _ = machine.reloadRequested(forced: true)
        _ = machine.configLoaded(self.loaded("b"), forced: true, now: self.t0)
        _ = machine.reloadRequested(forced: true, waiter: waiter)
        let actions = machine.shutdownRequested(now: self.t0)
        XCTAssertTrue(actions.contains(.answerReload(waiter, .failed(["the master is shutting down"]))))
        XCTAssertEqual(
            machine.reloadRequested(forced: true, waiter: waiter),
            [.answerReload(waiter, .failed(["the master is shutting down"]))]
        )
    }
}

extension SupervisorAction {
    var isReady: Bool {
        if case .notifyReady = self { true } else { false }
    }

    var isReloading: Bool {
        if case .notifyReloading = self { true } else { false }
    }
}
