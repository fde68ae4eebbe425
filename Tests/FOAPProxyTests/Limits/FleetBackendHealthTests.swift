import NIOCore
import XCTest

@testable import FOAPProxy

/// The limits backend's circuit breaker, on an injected clock: failures of one incident count once, a Redis that
/// keeps failing opens the circuit, a success closes it.
final class FleetBackendHealthTests: XCTestCase {
    private let start = NIODeadline.uptimeNanoseconds(1_000_000_000)

    func testEveryCallOfOnePipelineFailingAtOnceIsOneIncident() {
        let health = FleetBackendHealth(threshold: 3, coolDown: .seconds(2), incident: .milliseconds(25))
        // A stall closes the shared connection: 64 calls in flight fail within a millisecond.
        for index in 0..<64 {
            _ = health.failed(now: self.start + .microseconds(Int64(index) * 10))
        }
        XCTAssertTrue(health.mayAsk(now: self.start + .milliseconds(1)), "one incident does not open the circuit")
        XCTAssertEqual(health.succeeded(), .recovered, "its one log line is followed by the recovery's")
    }

    func testARedisThatKeepsFailingOpensTheCircuitUntilTheCoolDownEnds() {
        let health = FleetBackendHealth(threshold: 3, coolDown: .seconds(2), incident: .milliseconds(25))
        var now = self.start
        XCTAssertEqual(health.failed(now: now), .failing(count: 1), "the first failure is logged")
        for _ in 0..<20 {
            now = now + .milliseconds(5)
            XCTAssertNil(health.failed(now: now), "one log line per interval")
        }
        // 100 ms of failures: four incidents 25 ms apart.
        XCTAssertFalse(health.mayAsk(now: now))
        XCTAssertFalse(health.mayAsk(now: now + .milliseconds(1_999)))
        XCTAssertTrue(health.mayAsk(now: now + .seconds(2)), "then one try")
        XCTAssertEqual(health.succeeded(), .recovered)
        XCTAssertTrue(health.mayAsk(now: now + .seconds(2)))
        _ = health.failed(now: now + .seconds(3))
        XCTAssertTrue(health.mayAsk(now: now + .seconds(3)), "counting starts again after a success")
    }

    func testWithoutAnIncidentWindowEveryFailureCounts() {
        let health = FleetBackendHealth(threshold: 3, coolDown: .seconds(2))
        for _ in 0..<3 {
            _ = health.failed(now: self.start)
        }
        XCTAssertFalse(health.mayAsk(now: self.start))
    }
}
