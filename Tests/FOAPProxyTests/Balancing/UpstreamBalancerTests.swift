import FOAPConfig
import NIOCore
import XCTest

@testable import FOAPProxy

/// The balancer as a state machine: picks, verdicts and cooldowns with a clock moved by hand.
final class UpstreamBalancerTests: XCTestCase {
    let t0 = NIODeadline.uptimeNanoseconds(1_000_000_000)

    func at(_ seconds: Double) -> NIODeadline {
        self.t0 + .nanoseconds(Int64(seconds * 1_000_000_000))
    }

    func balancer(_ strategy: BalancingStrategy, weights: [Int], maxFails: Int = 3, cooldown: Double = 5)
        -> UpstreamBalancer
    {
        UpstreamBalancer(policy: PoolPolicy(strategy: strategy, maxFails: maxFails, cooldown: cooldown), weights: weights)
    }

    /// `count` sequential requests, each finished before the next: how many each upstream got.
    func spread(_ balancer: inout UpstreamBalancer, count: Int) -> [Int] {
        var counts = Array(repeating: 0, count: balancer.members.count)
        for _ in 0..<count {
            let index = balancer.pick(excluding: .empty, now: self.t0)!
            counts[index] += 1
            balancer.succeeded(index)
            balancer.finished(index)
        }
        return counts
    }

    func testWeightedSpreadsExactlyByWeightAndInterleaves() {
        var balancer = self.balancer(.weighted, weights: [3, 1])
        var order: [Int] = []
        for _ in 0..<4 {
            let index = balancer.pick(excluding: .empty, now: self.t0)!
            order.append(index)
            balancer.finished(index)
        }
        XCTAssertEqual(order, [0, 0, 1, 0], "smooth: the light one is not last of a burst")
        var fresh = self.balancer(.weighted, weights: [5, 3, 2])
        XCTAssertEqual(self.spread(&fresh, count: 1000), [500, 300, 200])
    }

    func testRoundRobinIgnoresWeights() {
        var balancer = self.balancer(.roundRobin, weights: [5, 1, 1])
        XCTAssertEqual(self.spread(&balancer, count: 9), [3, 3, 3])
    }

    func testLeastInflightPrefersTheIdleOneAndSpreadsTiesByWeight() {
        var balancer = self.balancer(.leastInflight, weights: [1, 1, 1])
        let first = balancer.pick(excluding: .empty, now: self.t0)!
        let second = balancer.pick(excluding: .empty, now: self.t0)!
        let third = balancer.pick(excluding: .empty, now: self.t0)!
        XCTAssertEqual(Set([first, second, third]), [0, 1, 2], "three in flight: one each")
        balancer.finished(second)
        XCTAssertEqual(balancer.pick(excluding: .empty, now: self.t0), second, "the only one with nothing in flight")
        var weighted = self.balancer(.leastInflight, weights: [2, 1])
        XCTAssertEqual(self.spread(&weighted, count: 300), [200, 100], "sequential: every pick is a tie")
    }

    func testOrderedUsesThePrimaryUntilItCoolsDown() {
        var balancer = self.balancer(.ordered, weights: [1, 1], maxFails: 2)
        XCTAssertEqual(self.spread(&balancer, count: 5), [5, 0])
        for _ in 0..<2 {
            let index = balancer.pick(excluding: .empty, now: self.t0)!
            XCTAssertEqual(index, 0)
            balancer.failed(index, now: self.t0)
            balancer.finished(index)
        }
        XCTAssertEqual(balancer.state(of: 0, now: self.t0), .coolingDown(remaining: .seconds(5)))
        XCTAssertEqual(balancer.pick(excluding: .empty, now: self.t0), 1, "the fallback")
    }

    func testTriedUpstreamsAreNotPickedAgain() {
        var balancer = self.balancer(.ordered, weights: [1, 1, 1])
        var tried = UpstreamSet.empty
        tried.insert(0)
        tried.insert(2)
        XCTAssertEqual(balancer.pick(excluding: tried, now: self.t0), 1)
        tried.insert(1)
        XCTAssertNil(balancer.pick(excluding: tried, now: self.t0))
        XCTAssertFalse(balancer.hasCandidate(excluding: tried, now: self.t0))
    }

    func testCooldownGrowsThenOneProbeDecides() {
        var balancer = self.balancer(.roundRobin, weights: [1, 1], maxFails: 1, cooldown: 2)
        balancer.failed(0, now: self.t0)
        XCTAssertEqual(balancer.state(of: 0, now: self.t0), .coolingDown(remaining: .seconds(2)))
        XCTAssertEqual(balancer.pick(excluding: .empty, now: self.at(1)), 1)
        balancer.finished(1)
        // Over: half-open. The next pick probes it; while the probe runs, nobody else is sent there.
        XCTAssertEqual(balancer.state(of: 0, now: self.at(2)), .awaitingProbe)
        XCTAssertEqual(balancer.pick(excluding: .empty, now: self.at(2)), 0)
        XCTAssertEqual(balancer.state(of: 0, now: self.at(2)), .probing)
        XCTAssertEqual(balancer.pick(excluding: .empty, now: self.at(2)), 1)
        XCTAssertEqual(balancer.pick(excluding: .empty, now: self.at(2)), 1)
        // The probe fails: twice as long.
        balancer.failed(0, now: self.at(2))
        balancer.finished(0)
        XCTAssertEqual(balancer.state(of: 0, now: self.at(2)), .coolingDown(remaining: .seconds(4)))
        XCTAssertEqual(balancer.state(of: 0, now: self.at(5.5)), .coolingDown(remaining: .milliseconds(500)))
        // The next probe succeeds: healthy, and the next failure starts from the base interval again.
        XCTAssertEqual(balancer.pick(excluding: .empty, now: self.at(6)), 0)
        balancer.succeeded(0)
        balancer.finished(0)
        XCTAssertEqual(balancer.state(of: 0, now: self.at(6)), .healthy)
        balancer.failed(0, now: self.at(7))
        XCTAssertEqual(balancer.state(of: 0, now: self.at(7)), .coolingDown(remaining: .seconds(2)))
    }

    func testFailuresMustBeConsecutive() {
        var balancer = self.balancer(.ordered, weights: [1, 1], maxFails: 3)
        balancer.failed(0, now: self.t0)
        balancer.failed(0, now: self.t0)
        balancer.succeeded(0)
        balancer.failed(0, now: self.t0)
        balancer.failed(0, now: self.t0)
        XCTAssertEqual(balancer.state(of: 0, now: self.t0), .healthy)
        balancer.failed(0, now: self.t0)
        XCTAssertEqual(balancer.state(of: 0, now: self.t0), .coolingDown(remaining: .seconds(5)))
    }

    func testCooldownIsCappedAtTheMaximum() {
        var balancer = self.balancer(.ordered, weights: [1, 1], maxFails: 1, cooldown: 200)
        balancer.failed(0, now: self.t0)
        _ = balancer.pick(excluding: .empty, now: self.at(200))
        balancer.failed(0, now: self.at(200))
        XCTAssertEqual(
            balancer.state(of: 0, now: self.at(200)),
            .coolingDown(remaining: .seconds(Int64(PoolPolicy.maximumCooldown)))
        )
    }

    func testRateLimitSkipsTheUpstreamForRetryAfterWithoutCountingAFailure() {
        var balancer = self.balancer(.ordered, weights: [1, 1], maxFails: 1)
        balancer.rateLimited(0, for: .seconds(3), now: self.t0)
        XCTAssertEqual(balancer.state(of: 0, now: self.t0), .rateLimited(remaining: .seconds(3)))
        XCTAssertEqual(balancer.pick(excluding: .empty, now: self.at(2.9)), 1)
        XCTAssertEqual(balancer.pick(excluding: .empty, now: self.at(3)), 0)
        XCTAssertEqual(balancer.state(of: 0, now: self.at(3)), .healthy)
    }

    func testEveryUpstreamDownLeavesNoCandidate() {
        var balancer = self.balancer(.leastInflight, weights: [1, 1], maxFails: 1)
        balancer.failed(0, now: self.t0)
        balancer.failed(1, now: self.t0)
        XCTAssertNil(balancer.pick(excluding: .empty, now: self.t0))
        XCTAssertNotNil(balancer.pick(excluding: .empty, now: self.at(5)))
    }

    func testRetryAfterHeaderIsReadInSecondsAndBounded() {
        XCTAssertEqual(RetryPolicy.retryAfter("7"), .seconds(7))
        XCTAssertEqual(RetryPolicy.retryAfter("Wed, 21 Oct 2026 07:28:00 GMT"), .seconds(1))
        XCTAssertEqual(RetryPolicy.retryAfter("86400"), .seconds(300))
        XCTAssertEqual(RetryPolicy.retryAfter(nil), .seconds(1))
    }
}

import NIOHTTP1

enum HTTPHeadersForTest {
    static func make(_ pairs: [String: String]) -> HTTPHeaders {
        HTTPHeaders(pairs.map { ($0.key, $0.value) })
    }
}
