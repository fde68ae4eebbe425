import XCTest

@testable import FOAPSupervisor

/// What the supervisor state-machine tests share: a fixed start instant, the timeouts, worker ids and config
/// outcomes (the digest doubles as the snapshot bytes).
protocol SupervisorMachineFixture {
    var t0: ContinuousClock.Instant { get }
}

extension SupervisorMachineFixture {
    var timeouts: SupervisorStateMachine.Timeouts {
        SupervisorStateMachine.Timeouts(ready: .seconds(30), heartbeat: .seconds(3), drain: .seconds(60), drainGrace: .seconds(5))
    }

    func id(_ raw: Int) -> WorkerID { WorkerID(rawValue: raw) }

    func loaded(_ digest: String, models: Int = 2) -> ConfigLoadOutcome {
        .loaded(snapshot: Array(digest.utf8), digest: digest, summary: "\(models) models", models: models, warnings: [])
    }

    /// One slot, generation 1 (worker #1, pid 101) ready and announced, serving config "a" (2 models).
    func makeSingleSlotRunning() -> SupervisorStateMachine {
        var machine = SupervisorStateMachine(workerCount: 1, timeouts: self.timeouts)
        _ = machine.started(outcome: self.loaded("a"), now: self.t0)
        _ = machine.workerSpawned(self.id(1), pid: 101)
        XCTAssertTrue(machine.messageReceived(.ready, from: self.id(1), now: self.t0).contains(where: \.isReady))
        return machine
    }

    /// Brings the generation started by the last `configLoaded` up and the old one down; returns every action.
    func completeReload(
        _ machine: inout SupervisorStateMachine, newWorker: Int, oldWorker: Int
    ) -> [SupervisorAction] {
        var actions = machine.workerSpawned(self.id(newWorker), pid: Int32(100 + newWorker))
        actions += machine.messageReceived(.ready, from: self.id(newWorker), now: self.t0)
        actions += machine.messageReceived(.draining, from: self.id(oldWorker), now: self.t0)
        return actions
    }
}
