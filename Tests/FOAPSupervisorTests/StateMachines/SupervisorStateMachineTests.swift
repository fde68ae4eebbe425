import XCTest

@testable import FOAPSupervisor

/// The master's behaviour as action tables: events in, actions out, the clock moved by hand.
final class SupervisorStateMachineTests: XCTestCase, SupervisorMachineFixture {
    let t0 = ContinuousClock.now

    /// Two slots, generation 1 spawned and ready (workers #1, #2 with pids 101, 102).
    func makeRunning() -> SupervisorStateMachine {
        var machine = SupervisorStateMachine(workerCount: 2, timeouts: self.timeouts)
        XCTAssertEqual(
            machine.started(outcome: self.loaded("a"), now: self.t0),
            [
                .log(.started(generation: 1, summary: "2 models")),
                .keepSnapshot(generation: 1, Array("a".utf8)),
                .spawnWorker(self.id(1), slot: 0, generation: 1),
                .spawnWorker(self.id(2), slot: 1, generation: 1),
            ]
        )
        XCTAssertEqual(machine.workerSpawned(self.id(1), pid: 101).count, 1)
        XCTAssertEqual(machine.workerSpawned(self.id(2), pid: 102).count, 1)
        XCTAssertEqual(
            machine.messageReceived(.ready, from: self.id(1), now: self.t0),
            [.log(.workerReady(self.id(1), slot: 0, generation: 1)), .send(.accept, to: self.id(1))]
        )
        let status = "generation 1, 2/2 workers ready, 2 models, last reload: none"
        XCTAssertEqual(
            machine.messageReceived(.ready, from: self.id(2), now: self.t0),
            [
                .log(.workerReady(self.id(2), slot: 1, generation: 1)),
                .log(.allWorkersReady(generation: 1)),
                .notifyReady(status: status),
                .send(.accept, to: self.id(2)),
            ]
        )
        return machine
    }

    func testInvalidConfigAtStartExitsWithOne() {
        var machine = SupervisorStateMachine(workerCount: 2, timeouts: self.timeouts)
        XCTAssertEqual(
            machine.started(outcome: .failed(errors: ["a.json: models: missing"]), now: self.t0),
            [.log(.configInvalid(errors: ["a.json: models: missing"])), .exit(code: 1)]
        )
    }

    func testCrashedWorkerIsReplacedAtOnceThenWithBackoff() {
        var machine = self.makeRunning()
        let now = self.t0 + .seconds(1)
        var actions = machine.workerExited(pid: 101, status: .signaled(signal: SIGKILL), now: now)
        XCTAssertEqual(actions.first, .log(.workerExited(self.id(1), slot: 0, generation: 1, pid: 101,
                                                         status: .signaled(signal: SIGKILL), expected: false)))
        XCTAssertTrue(actions.contains(.spawnWorker(self.id(3), slot: 0, generation: 1)))
        _ = machine.workerSpawned(self.id(3), pid: 103)
        actions = machine.workerExited(pid: 103, status: .exited(code: 1), now: now)
        XCTAssertTrue(actions.contains(.log(.respawnScheduled(slot: 0, generation: 1, delay: .milliseconds(100)))))
        XCTAssertEqual(machine.nextDeadline, now + .milliseconds(100))
        XCTAssertEqual(machine.tick(now: now + .milliseconds(99)), [])
        XCTAssertEqual(machine.tick(now: now + .milliseconds(100)), [.spawnWorker(self.id(4), slot: 0, generation: 1)])
    }

    func testMissedHeartbeatsKillAndReplace() {
        var machine = self.makeRunning()
        _ = machine.messageReceived(.heartbeat, from: self.id(2), now: self.t0 + .seconds(2))
        XCTAssertTrue(machine.isHealthy(now: self.t0 + .seconds(2)))
        XCTAssertFalse(machine.isHealthy(now: self.t0 + .seconds(3)))
        XCTAssertEqual(
            machine.tick(now: self.t0 + .seconds(3)),
            [
                .log(.workerKilled(self.id(1), slot: 0, generation: 1, pid: 101, reason: .heartbeatTimeout)),
                .killWorker(self.id(1), pid: 101),
            ]
        )
        XCTAssertEqual(machine.tick(now: self.t0 + .seconds(3)), [])
        let actions = machine.workerExited(pid: 101, status: .signaled(signal: SIGKILL), now: self.t0 + .seconds(3))
        XCTAssertTrue(actions.contains(.spawnWorker(self.id(3), slot: 0, generation: 1)))
    }

    func testUnchangedDigestDoesNothingButSighupForcesAReload() {
        var machine = self.makeRunning()
        XCTAssertEqual(machine.reloadRequested(forced: false), [.loadConfig(forced: false)])
        XCTAssertEqual(machine.configLoaded(self.loaded("a"), forced: false, now: self.t0), [.log(.configUnchanged)])
        // The serving config's warnings were logged when it loaded; a rescan that finds it unchanged says no more.
        _ = machine.reloadRequested(forced: false)
        let warned = ConfigLoadOutcome.loaded(
            snapshot: Array("a".utf8), digest: "a", summary: "2 models", models: 2, warnings: ["a.json: x: unknown key"])
        XCTAssertEqual(machine.configLoaded(warned, forced: false, now: self.t0), [.log(.configUnchanged)])
        XCTAssertEqual(
            machine.reloadRequested(forced: true),
            [.notifyReloading(status: "reloading: loading configuration"), .loadConfig(forced: true)],
            "RELOADING=1 goes out before the config is read, so systemctl reload cannot finish early"
        )
        let actions = machine.configLoaded(self.loaded("a"), forced: true, now: self.t0)
        XCTAssertEqual(actions.first, .log(.reloadStarted(generation: 2, forced: true)))
        XCTAssertTrue(actions.contains(.notifyStatus("reloading: starting generation 2")))
    }

    func testForcedReloadWithAnInvalidConfigEndsTheReloadWithReady() {
        var machine = self.makeRunning()
        _ = machine.reloadRequested(forced: true)
        let actions = machine.configLoaded(.failed(errors: ["b.json: x: bad"]), forced: true, now: self.t0)
        XCTAssertEqual(
            actions.last,
            .notifyReady(status: "generation 1, 2/2 workers ready, 2 models, last reload: config invalid: b.json: x: bad")
        )
        XCTAssertEqual(machine.activeGeneration, 1)
    }

    func testInvalidConfigKeepsGenerationAndSaysSoInStatus() {
        var machine = self.makeRunning()
        let actions = machine.configLoaded(.failed(errors: ["b.json: x: bad", "c.json: y: bad"]), forced: false,
                                           now: self.t0)
        XCTAssertEqual(
            actions,
            [
                .log(.configInvalid(errors: ["b.json: x: bad", "c.json: y: bad"])),
                .notifyStatus("generation 1, 2/2 workers ready, 2 models, last reload: config invalid: b.json: x: bad"),
            ]
        )
        XCTAssertEqual(machine.activeGeneration, 1)
        XCTAssertEqual(machine.reload, .idle)
    }

    /// The bad file is removed: the next load finds the config the active generation serves. That load starts
    /// nothing, but the status must stop saying the config is invalid (it said so until the next real reload).
    func testValidUnchangedLoadAfterAnInvalidOneClearsTheStaleStatus() {
        var machine = self.makeRunning()
        _ = machine.configLoaded(.failed(errors: ["b.json: x: bad"]), forced: false, now: self.t0)
        XCTAssertEqual(machine.reloadRequested(forced: false), [.loadConfig(forced: false)])
        XCTAssertEqual(
            machine.configLoaded(self.loaded("a"), forced: false, now: self.t0),
            [
                .log(.configUnchanged),
                .notifyStatus("generation 1, 2/2 workers ready, 2 models, last reload: ok (unchanged, generation 1)"),
            ]
        )
        XCTAssertEqual(machine.lastReloadResult.description, "ok (unchanged, generation 1)")
        // Nothing stale left to correct: an unchanged load is quiet again.
        _ = machine.reloadRequested(forced: false)
        XCTAssertEqual(machine.configLoaded(self.loaded("a"), forced: false, now: self.t0), [.log(.configUnchanged)])
    }

    func testValidUnchangedLoadAfterAFailedGenerationClearsTheStaleStatus() {
        var machine = self.makeRunning()
        _ = machine.configLoaded(self.loaded("b"), forced: false, now: self.t0)
        _ = machine.workerSpawned(self.id(3), pid: 103)
        _ = machine.workerSpawned(self.id(4), pid: 104)
        _ = machine.workerExited(pid: 103, status: .exited(code: 2), now: self.t0)
        XCTAssertTrue(machine.statusLine.hasSuffix("last reload: generation 2 failed: worker #3 of slot 0 exited before ready"))
        // The edit that broke generation 2 is reverted: the directory is what generation 1 serves.
        _ = machine.reloadRequested(forced: false)
        XCTAssertEqual(
            machine.configLoaded(self.loaded("a"), forced: false, now: self.t0).last,
            .notifyStatus("generation 1, 2/2 workers ready, 2 models, last reload: ok (unchanged, generation 1)")
        )
    }

    func testReloadSpawnsNextGenerationThenDrainsOldThenReportsReady() {
        var machine = self.makeRunning()
        let start = self.t0 + .seconds(10)
        XCTAssertEqual(
            machine.configLoaded(self.loaded("b"), forced: false, now: start),
            [
                .log(.reloadStarted(generation: 2, forced: false)),
                .notifyReloading(status: "reloading: starting generation 2"),
                .keepSnapshot(generation: 2, Array("b".utf8)),
                .spawnWorker(self.id(3), slot: 0, generation: 2),
                .spawnWorker(self.id(4), slot: 1, generation: 2),
            ]
        )
        _ = machine.workerSpawned(self.id(3), pid: 103)
        _ = machine.workerSpawned(self.id(4), pid: 104)
        // A second change during the reload is coalesced.
        XCTAssertEqual(machine.reloadRequested(forced: false), [])
        XCTAssertEqual(machine.messageReceived(.ready, from: self.id(3), now: start).count, 1)
        XCTAssertEqual(
            machine.messageReceived(.ready, from: self.id(4), now: start + .milliseconds(20)),
            [
                .log(.workerReady(self.id(4), slot: 1, generation: 2)),
                .log(.allWorkersReady(generation: 2)),
                .releaseSnapshot(generation: 1),
                .send(.drain, to: self.id(1)),
                .send(.drain, to: self.id(2)),
            ]
        )
        XCTAssertEqual(machine.activeGeneration, 2)
        XCTAssertEqual(
            machine.messageReceived(.draining, from: self.id(1), now: start + .milliseconds(30)),
            // Slot 0's listener is free: its new worker may accept now, not before (one acceptor per slot).
            [.log(.workerDraining(self.id(1), slot: 0, generation: 1)), .send(.accept, to: self.id(3))]
        )
        let exitActions = machine.workerExited(pid: 102, status: .exited(code: 0), now: start + .milliseconds(40))
        XCTAssertEqual(
            exitActions,
            [
                .log(.workerExited(self.id(2), slot: 1, generation: 1, pid: 102, status: .exited(code: 0),
                                   expected: true)),
                .send(.accept, to: self.id(4)),
                .log(.reloadDone(generation: 2, duration: .milliseconds(40))),
                // The change queued meanwhile runs first; READY=1 waits for its answer.
                .loadConfig(forced: false),
            ]
        )
        XCTAssertEqual(
            machine.configLoaded(self.loaded("b"), forced: false, now: start + .milliseconds(41)),
            [
                .log(.configUnchanged),
                .notifyReady(status: "generation 2, 2/2 workers ready, 2 models, last reload: ok (generation 2)"),
            ]
        )
        // An old worker exiting later is not replaced.
        let later = machine.workerExited(pid: 101, status: .exited(code: 0), now: start + .seconds(1))
        XCTAssertEqual(later.count, 1)
    }

    func testNewWorkerDyingBeforeReadyAbandonsReloadAndKeepsOldGeneration() {
        var machine = self.makeRunning()
        _ = machine.configLoaded(self.loaded("b"), forced: false, now: self.t0)
        _ = machine.workerSpawned(self.id(3), pid: 103)
        _ = machine.workerSpawned(self.id(4), pid: 104)
        _ = machine.messageReceived(.ready, from: self.id(3), now: self.t0)
        let actions = machine.workerExited(pid: 104, status: .exited(code: 2), now: self.t0 + .seconds(1))
        XCTAssertEqual(
            Array(actions.dropFirst()),
            [
                .log(.reloadAbandoned(generation: 2, reason: "worker #4 of slot 1 exited before ready",
                                      duration: .seconds(1))),
                .log(.workerKilled(self.id(3), slot: 0, generation: 2, pid: 103, reason: .reloadAbandoned)),
                .killWorker(self.id(3), pid: 103),
                .releaseSnapshot(generation: 2),
                .notifyReady(status: "generation 1, 2/2 workers ready, 2 models, "
                    + "last reload: generation 2 failed: worker #4 of slot 1 exited before ready"),
            ]
        )
        XCTAssertEqual(machine.activeGeneration, 1)
        XCTAssertEqual(machine.workerExited(pid: 103, status: .signaled(signal: SIGKILL), now: self.t0).count, 1)
        // The next change retries with a fresh generation number.
        let retry = machine.configLoaded(self.loaded("b"), forced: false, now: self.t0 + .seconds(2))
        XCTAssertEqual(retry.first, .log(.reloadStarted(generation: 3, forced: false)))
    }

    func testNewGenerationNotReadyInTimeIsAbandoned() {
        var machine = self.makeRunning()
        _ = machine.configLoaded(self.loaded("b"), forced: false, now: self.t0)
        _ = machine.workerSpawned(self.id(3), pid: 103)
        _ = machine.workerSpawned(self.id(4), pid: 104)
        // Old workers keep heartbeating.
        _ = machine.messageReceived(.heartbeat, from: self.id(1), now: self.t0 + .seconds(29))
        _ = machine.messageReceived(.heartbeat, from: self.id(2), now: self.t0 + .seconds(29))
        XCTAssertEqual(machine.nextDeadline, self.t0 + .seconds(30))
        let actions = machine.tick(now: self.t0 + .seconds(30))
        XCTAssertEqual(
            actions.first,
            .log(.reloadAbandoned(generation: 2, reason: "worker #3 of slot 0: ready timeout", duration: .seconds(30)))
        )
        XCTAssertTrue(actions.contains(.killWorker(self.id(3), pid: 103)))
        XCTAssertTrue(actions.contains(.killWorker(self.id(4), pid: 104)))
        XCTAssertEqual(machine.reload, .idle)
    }

    func testGracefulShutdownDrainsAllAndExitsZero() {
        var machine = self.makeRunning()
        XCTAssertEqual(
            machine.shutdownRequested(now: self.t0),
            [
                .log(.shutdownStarted),
                .notifyStopping(status: "stopping: draining 2 workers"),
                .send(.drain, to: self.id(1)),
                .send(.drain, to: self.id(2)),
            ]
        )
        // The listeners stop queueing connections once no worker takes them any more, not before.
        XCTAssertFalse(machine.messageReceived(.draining, from: self.id(1), now: self.t0).contains(.refuseNewConnections))
        XCTAssertEqual(machine.messageReceived(.draining, from: self.id(2), now: self.t0).last, .refuseNewConnections)
        XCTAssertEqual(machine.reloadRequested(forced: true), [])
        XCTAssertEqual(machine.workerExited(pid: 101, status: .exited(code: 0), now: self.t0).count, 1)
        XCTAssertEqual(machine.workerExited(pid: 102, status: .exited(code: 0), now: self.t0).last, .exit(code: 0))
    }

    func testSecondSignalKillsAndExitsOne() {
        var machine = self.makeRunning()
        _ = machine.shutdownRequested(now: self.t0)
        XCTAssertEqual(
            machine.shutdownRequested(now: self.t0),
            [
                .log(.shutdownForced(reason: "second signal")),
                .log(.workerKilled(self.id(1), slot: 0, generation: 1, pid: 101, reason: .forcedShutdown)),
                .killWorker(self.id(1), pid: 101),
                .log(.workerKilled(self.id(2), slot: 1, generation: 1, pid: 102, reason: .forcedShutdown)),
                .killWorker(self.id(2), pid: 102),
            ]
        )
        _ = machine.workerExited(pid: 101, status: .signaled(signal: SIGKILL), now: self.t0)
        XCTAssertEqual(machine.workerExited(pid: 102, status: .signaled(signal: SIGKILL), now: self.t0).last,
                       .exit(code: 1))
    }

    func testDrainTimeoutDuringShutdownKills() {
        var machine = self.makeRunning()
        _ = machine.shutdownRequested(now: self.t0)
        XCTAssertEqual(machine.nextDeadline, self.t0 + .seconds(65))
        let actions = machine.tick(now: self.t0 + .seconds(65))
        XCTAssertTrue(actions.contains(.killWorker(self.id(1), pid: 101)))
        XCTAssertTrue(actions.contains(.log(.shutdownForced(reason: "drain timeout"))))
    }
}
