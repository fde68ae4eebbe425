import XCTest

@testable import FOAPSupervisor

final class DebouncerTests: XCTestCase {
    func testFiresOnceAfterQuietTimeFromLastEvent() {
        let start = ContinuousClock.now
        var debouncer = Debouncer(delay: .milliseconds(150))
        XCTAssertFalse(debouncer.fireIfDue(now: start))
        debouncer.eventReceived(now: start)
        debouncer.eventReceived(now: start + .milliseconds(100))
        XCTAssertFalse(debouncer.fireIfDue(now: start + .milliseconds(200)))
        XCTAssertEqual(debouncer.deadline, start + .milliseconds(250))
        XCTAssertTrue(debouncer.fireIfDue(now: start + .milliseconds(250)))
        XCTAssertFalse(debouncer.fireIfDue(now: start + .seconds(5)))
        XCTAssertNil(debouncer.deadline)
    }
}

final class RespawnBackoffTests: XCTestCase {
    func testFirstCrashIsImmediateThenDoublesUpToTheCap() {
        var backoff = RespawnBackoff()
        let delays = (0..<10).map { _ in backoff.delayAfterCrash(uptime: .milliseconds(10)) }
        XCTAssertEqual(
            delays,
            [
                .zero, .milliseconds(100), .milliseconds(200), .milliseconds(400), .milliseconds(800),
                .milliseconds(1600), .milliseconds(3200), .milliseconds(6400), .seconds(10), .seconds(10),
            ]
        )
    }

    func testLongUptimeResetsTheSequence() {
        var backoff = RespawnBackoff()
        _ = backoff.delayAfterCrash(uptime: .zero)
        XCTAssertEqual(backoff.delayAfterCrash(uptime: .zero), .milliseconds(100))
        XCTAssertEqual(backoff.delayAfterCrash(uptime: .seconds(30)), .zero)
        XCTAssertEqual(backoff.delayAfterCrash(uptime: .zero), .milliseconds(100))
    }
}

final class WorkerStateMachineTests: XCTestCase {
    let start = ContinuousClock.now

    func makeMachine() -> WorkerStateMachine {
        WorkerStateMachine(spawnedAt: self.start, readyTimeout: .seconds(30), heartbeatTimeout: .seconds(3))
    }

    func testReadyTimeoutThenHeartbeatDeadline() {
        var machine = self.makeMachine()
        XCTAssertEqual(machine.deadline, self.start + .seconds(30))
        XCTAssertNil(machine.expiredDeadline(now: self.start + .seconds(29)))
        XCTAssertEqual(machine.expiredDeadline(now: self.start + .seconds(30)), .readyTimeout)
        XCTAssertTrue(machine.readyReceived(now: self.start + .seconds(1)))
        XCTAssertFalse(machine.readyReceived(now: self.start + .seconds(2)))
        XCTAssertEqual(machine.deadline, self.start + .seconds(4))
        machine.heartbeatReceived(now: self.start + .seconds(3))
        XCTAssertNil(machine.expiredDeadline(now: self.start + .seconds(5)))
        XCTAssertEqual(machine.expiredDeadline(now: self.start + .seconds(6)), .heartbeatTimeout)
        XCTAssertFalse(machine.isHealthy(now: self.start + .seconds(6)))
    }

    func testDrainAcknowledgeAndKill() {
        var machine = self.makeMachine()
        XCTAssertFalse(machine.drainingReceived())
        XCTAssertTrue(machine.drainRequested(exitDeadline: self.start + .seconds(65)))
        XCTAssertFalse(machine.drainRequested(exitDeadline: self.start + .seconds(70)))
        XCTAssertTrue(machine.drainingReceived())
        XCTAssertFalse(machine.drainingReceived())
        XCTAssertEqual(machine.expiredDeadline(now: self.start + .seconds(65)), .drainTimeout)
        XCTAssertTrue(machine.killRequested(.drainTimeout))
        XCTAssertFalse(machine.killRequested(.drainTimeout))
        XCTAssertNil(machine.deadline)
    }
}
