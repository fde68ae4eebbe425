import FOAPConfig
import Foundation
import XCTest

@testable import FOAPLimits

/// A host's own state of a fleet-decided scope: its budget spend (charges land in the latest period, refunds only
/// in their own), refusals kept until their time, all beside the scope's own counters and kept with the region.
final class FleetScopeStateTests: XCTestCase {
    private let scope = LimitScope.group("research")

    func testTheHostsSpendFollowsRedisRulesForChargesAndRefunds() throws {
        let state = try FleetScopeState(region: try self.makeRegion(), scope: self.scope)
        XCTAssertEqual(state.contribution(.day).tokens, 0)
        state.addContribution(.day, tokens: 700, periodNumber: 20_000)
        state.addContribution(.day, tokens: -200, periodNumber: 20_000)
        XCTAssertEqual(state.contribution(.day).periodNumber, 20_000)
        XCTAssertEqual(state.contribution(.day).tokens, 500)
        state.addContribution(.day, tokens: -900, periodNumber: 20_000)
        XCTAssertEqual(state.contribution(.day).tokens, 0, "never below 0")
        state.addContribution(.day, tokens: 300, periodNumber: 20_000)
        // The next day: a refund for yesterday is void; yesterday's late extra charge counts today.
        state.addContribution(.day, tokens: 40, periodNumber: 20_001)
        state.addContribution(.day, tokens: -300, periodNumber: 20_000)
        state.addContribution(.day, tokens: 5, periodNumber: 20_000)
        XCTAssertEqual(state.contribution(.day).periodNumber, 20_001)
        XCTAssertEqual(state.contribution(.day).tokens, 45)
        XCTAssertEqual(state.contribution(.month).tokens, 0, "each budget period has its own record")
    }

    func testARefusalHoldsUntilItsTimeForRequestsThatNeedMoreThanItsHeadroom() throws {
        let state = try FleetScopeState(region: try self.makeRegion(), scope: self.scope)
        let limit = FleetScopeState.Limit.rate(.tokens, .minute)
        XCTAssertNil(state.denial(limit, now: Clock.start))
        state.deny(limit, until: Clock.start + 1_500_000_001, headroom: 12)
        let denial = try XCTUnwrap(state.denial(limit, now: Clock.start + Clock.second))
        XCTAssertEqual(denial.until, Clock.start + 1_501_000_000, "kept to the millisecond, rounded up")
        XCTAssertEqual(denial.headroom, 12)
        XCTAssertNil(state.denial(limit, now: Clock.start + 2 * Clock.second), "over once its time has come")
        XCTAssertNil(state.denial(.rate(.requests, .minute), now: Clock.start), "each limit has its own")
        state.deny(.budget(.day), until: Clock.start + Clock.hour, headroom: FleetScopeState.maximumHeadroom + 1)
        XCTAssertNil(state.denial(.budget(.day), now: Clock.start), "a headroom too large to keep is not kept")
    }

    func testTheStateSitsBesideTheScopesOwnCountersAndIsKeptWithTheRegion() throws {
        let path = try self.makeRegionPath()
        let keys = self.makeKeys(
            [("k", KeyLimits(group: "research", key: LimitSet()))],
            groups: [LimitGroup(name: "research", limits: LimitSet(budgets: [BudgetLimit(period: .day, tokens: 1_000)]))])
        var region: LimitsRegion? = try LimitsRegion(path: path, capacity: 16, now: Clock.start)
        let identity = try XCTUnwrap(region?.hostIdentity)
        XCTAssertNotEqual(identity, 0)
        let limiter = try RateLimiter(region: region!, holder: 0, keys: keys)
        _ = limiter.admit(AdmissionRequest(key: "k", model: "m", estimatedTokens: 100), now: Clock.start)
        try FleetScopeState(region: region!, scope: self.scope)
            .addContribution(.day, tokens: 700, periodNumber: UTCCalendar.periodNumber(.day, at: Clock.start))
        XCTAssertEqual(limiter.usage(now: Clock.start).flatMap { $0.limits.map(\.used) }, [100], "the local count")
        region = nil
        let reopened = try LimitsRegion(path: path, capacity: 16, now: Clock.start + Clock.hour)
        XCTAssertEqual(reopened.hostIdentity, identity, "the host keeps its name in Redis across restarts")
        XCTAssertEqual(try FleetScopeState(region: reopened, scope: self.scope).contribution(.day).tokens, 700)
        XCTAssertNotEqual(try self.makeRegion().hostIdentity, identity, "another region, another host")
    }
}
