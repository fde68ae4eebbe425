import FOAPConfig
import XCTest

@testable import FOAPLimits

/// One admission over every scope that applies (key, first matching model pattern, group), all-or-nothing.
final class AdmissionTests: XCTestCase {
    /// team-b of the issue: its own limits, a gpt-4o* pattern, and the research group shared with team-c.
    private func makeLimiter(region: LimitsRegion, holder: Int = 0) throws -> RateLimiter {
        let key = LimitSet(
            rates: [RateLimit(metric: .requests, period: .minute, limit: 600),
                    RateLimit(metric: .tokens, period: .minute, limit: 200_000)],
            budgets: [BudgetLimit(period: .day, tokens: 5_000_000)],
            concurrentRequests: 16
        )
        let models = [
            ModelLimits(pattern: ModelPattern("gpt-4o*"), limits: LimitSet(
                rates: [RateLimit(metric: .tokens, period: .minute, limit: 100_000)], concurrentRequests: 4)),
            ModelLimits(pattern: ModelPattern("gpt-*"), limits: .rate(.requests, .minute, 1)),
        ]
        let group = LimitGroup(name: "research", limits: LimitSet(
            budgets: [BudgetLimit(period: .month, tokens: 1_000)], concurrentRequests: 96))
        return try RateLimiter(
            region: region, holder: holder,
            keys: self.makeKeys([
                ("team-b", KeyLimits(tier: "standard", group: "research", key: key, models: models)),
                ("team-c", KeyLimits(group: "research", key: .none)),
                ("free", nil),
            ], groups: [group])
        )
    }

    func testScopesAreTheKeyTheFirstMatchingPatternAndTheGroup() throws {
        let limiter = try self.makeLimiter(region: try self.makeRegion())
        let admission = try self.admitted(
            limiter.admit(AdmissionRequest(key: "team-b", model: "gpt-4o-mini", estimatedTokens: 300), now: Clock.start)
        )
        let usage = Dictionary(uniqueKeysWithValues: limiter.usage(now: Clock.start).map { ($0.scope, $0.limits) })
        XCTAssertEqual(usage[.key("team-b")]?.map(\.used), [1, 1, 300, 300])
        XCTAssertEqual(usage[.model(key: "team-b", pattern: "gpt-4o*")]?.map(\.used), [1, 300])
        XCTAssertEqual(usage[.model(key: "team-b", pattern: "gpt-*")]?.map(\.used), [0], "only the first match counts")
        XCTAssertEqual(usage[.group("research")]?.map(\.used), [1, 300])
        XCTAssertEqual(admission.requests?.remaining, 599)
        XCTAssertEqual(admission.requests?.label, "requests per min (RPM)")
        XCTAssertEqual(admission.tokens?.scope, .model(key: "team-b", pattern: "gpt-4o*"), "the tightest token rate")
        XCTAssertEqual(admission.tokens?.remaining, 99_700)
        XCTAssertEqual(admission.tokens?.resetAfter, .milliseconds(180))
        // A key without limits, or an unknown one, is admitted with a ticket that does nothing.
        let free = try self.admitted(limiter.admit(AdmissionRequest(key: "free", model: "x", estimatedTokens: 9), now: Clock.start))
        XCTAssertNil(free.requests)
        XCTAssertTrue(free.ticket.release())
    }

    func testARefusedRequestTakesNothingFromAnyOtherLimit() throws {
        let limiter = try self.makeLimiter(region: try self.makeRegion())
        let first = try self.admitted(limiter.admit(AdmissionRequest(key: "team-c", model: "m", estimatedTokens: 900), now: Clock.start))
        let before = limiter.usage(now: Clock.start)
        // team-b's own limits all have room; the group's month budget (100 left) does not.
        let refusal = try self.refused(
            limiter.admit(AdmissionRequest(key: "team-b", model: "gpt-4o", estimatedTokens: 200), now: Clock.start)
        )
        XCTAssertEqual(refusal.kind, .budget)
        XCTAssertEqual(refusal.scope, .group("research"))
        XCTAssertEqual(refusal.label, "tokens per month")
        XCTAssertEqual(refusal.resetsAt, Clock.utc(2026, 4, 1) / Clock.second)
        XCTAssertEqual(limiter.usage(now: Clock.start), before)
        // The same through the take-then-undo path a race would take: every kind of take given back.
        let taker = CellTaker(region: limiter.region, holder: 0)
        let request = AdmissionRequest(key: "team-b", model: "gpt-4o", estimatedTokens: 50)
        for scope in limiter.plans["team-b"]!.scopes(model: "gpt-4o") {
            for cell in scope.cells {
                guard case .success(let taken?) = taker.take(cell, of: scope, request, now: Clock.start, dryRun: false) else {
                    return XCTFail("expected a take")
                }
                taker.undo(taken)
            }
        }
        XCTAssertEqual(limiter.usage(now: Clock.start), before)
        first.ticket.release()
    }

    func testDeclaredOutputThatCanNeverFitIsFlagged() throws {
        let limiter = try self.makeLimiter(region: try self.makeRegion())
        let before = limiter.usage(now: Clock.start)
        let refusal = try self.refused(limiter.admit(
            AdmissionRequest(key: "team-b", model: "gpt-4o", estimatedTokens: 120_000, declaredOutputTokens: 100_001),
            now: Clock.start
        ))
        XCTAssertTrue(refusal.neverFits)
        XCTAssertNil(refusal.retryAfter)
        XCTAssertEqual(refusal.scope, .model(key: "team-b", pattern: "gpt-4o*"))
        XCTAssertEqual([refusal.limit, refusal.requested], [100_000, 100_001])
        XCTAssertEqual(limiter.usage(now: Clock.start), before)
        // A big prompt with a small declared output still fits: it reserves at most what each limit holds.
        let prompty = try self.admitted(limiter.admit(
            AdmissionRequest(key: "team-b", model: "gpt-4o", estimatedTokens: 150_000, declaredOutputTokens: 10),
            now: Clock.start
        ))
        XCTAssertEqual(prompty.tokens?.remaining, 0)
    }

    func testTokenSettlementRefundsAndChargesTheRate() throws {
        let limiter = try RateLimiter(
            region: try self.makeRegion(), holder: 0,
            keys: self.makeKeys([("k", KeyLimits(key: .rate(.tokens, .minute, 1_000)))])
        )
        func remaining() -> Int? { limiter.usage(now: Clock.start).first?.limits.first?.remaining }
        let ticket = try self.admitted(limiter.admit(AdmissionRequest(key: "k", model: "m", estimatedTokens: 600), now: Clock.start)).ticket
        XCTAssertEqual(remaining(), 400)
        limiter.settle(ticket, actualTokens: 100, now: Clock.start)
        XCTAssertEqual(remaining(), 900)
        let second = try self.admitted(limiter.admit(AdmissionRequest(key: "k", model: "m", estimatedTokens: 100), now: Clock.start)).ticket
        limiter.settle(second, actualTokens: 1_500, now: Clock.start)
        XCTAssertEqual(remaining(), 0)
        let refusal = try self.refused(limiter.admit(AdmissionRequest(key: "k", model: "m", estimatedTokens: 0), now: Clock.start))
        XCTAssertEqual(refusal.retryAfter, .milliseconds(36_060), "in debt by 600 tokens, then one token to spare")
        XCTAssertEqual(refusal.label, "tokens per min (TPM)")
    }

    func testConcurrencySlotsAreReleasedOnceAndReclaimedFromADeadHolder() throws {
        let region = try self.makeRegion()
        let worker0 = try self.makeLimiter(region: region, holder: 0)
        let worker1 = try self.makeLimiter(region: region, holder: 1)
        let request = AdmissionRequest(key: "team-b", model: "gpt-4o", estimatedTokens: 1)
        let held0 = try (0..<3).map { _ in try self.admitted(worker0.admit(request, now: Clock.start)).ticket }
        let held1 = try self.admitted(worker1.admit(request, now: Clock.start)).ticket
        let refusal = try self.refused(worker1.admit(request, now: Clock.start))
        XCTAssertEqual(refusal.kind, .concurrency)
        XCTAssertEqual(refusal.scope, .model(key: "team-b", pattern: "gpt-4o*"))
        XCTAssertEqual([refusal.limit, refusal.used], [4, 4])
        XCTAssertTrue(worker1.release(held1))
        XCTAssertFalse(worker1.release(held1), "a second release gives nothing back")
        XCTAssertTrue(held1.isReleased)
        var dropped: AdmissionTicket? = try self.admitted(worker1.admit(request, now: Clock.start)).ticket
        XCTAssertNotNil(dropped)
        dropped = nil
        // Worker 0 dies holding three; the master gives back exactly those.
        XCTAssertEqual(region.reclaim(holder: 0), 3 * 3, "the key, its pattern and its group")
        XCTAssertEqual(region.reclaim(holder: 0), 0)
        let inFlight = worker1.usage(now: Clock.start).flatMap { $0.limits.filter { $0.kind == .concurrency } }
        XCTAssertEqual(inFlight.map(\.used), [0, 0, 0], "the dropped ticket released on its own")
        let kept = try self.admitted(worker1.admit(request, now: Clock.start)).ticket
        XCTAssertEqual(region.reclaim(holder: 0), 0)
        XCTAssertEqual(worker1.usage(now: Clock.start).flatMap { $0.limits.filter { $0.kind == .concurrency } }.map(\.used), [1, 1, 1])
        withExtendedLifetime(held0) {}
        kept.release()
    }

    func testHolderOutOfRangeAndAFullRegionAreErrors() throws {
        let keys = self.makeKeys((0..<3).map { ("k\($0)", KeyLimits(key: .rate(.requests, .second, 1))) })
        XCTAssertThrowsError(try RateLimiter(region: try self.makeRegion(), holder: 256, keys: keys))
        XCTAssertThrowsError(try RateLimiter(region: try self.makeRegion(capacity: 2), holder: 0, keys: keys)) { error in
            XCTAssertTrue("\(error)".contains("full"), "\(error)")
        }
        XCTAssertNoThrow(try RateLimiter(region: try self.makeRegion(capacity: 3), holder: 0, keys: keys))
    }
}
