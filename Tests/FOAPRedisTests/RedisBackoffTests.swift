import FOAPRedis
import NIOCore
import XCTest

final class RedisBackoffTests: XCTestCase {
    func testWaitsDoubleUpToTheMaximumWithJitterInTheUpperHalf() {
        let backoff = RedisBackoff(initial: .milliseconds(100), maximum: .seconds(1))
        for (failures, ceiling) in [(1, 100), (2, 200), (3, 400), (4, 800), (5, 1000), (60, 1000)] {
            for _ in 0..<50 {
                let delay = backoff.delay(afterFailures: failures).nanoseconds
                XCTAssertGreaterThanOrEqual(delay, Int64(ceiling) * 1_000_000 / 2, "after \(failures)")
                XCTAssertLessThanOrEqual(delay, Int64(ceiling) * 1_000_000, "after \(failures)")
            }
        }
    }
}
