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

    func loaded(_ digest: String) -> ConfigLoadOutcome {
        .loaded(snapshot: Array(digest.utf8), digest: digest, summary: "2 models", warnings: [])
    }
}
