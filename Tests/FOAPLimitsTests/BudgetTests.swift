import FOAPConfig
import XCTest

@testable import FOAPLimits

/// Hard token budgets: UTC calendar resets, the packed period word, and random sequences against a plain model.
final class BudgetTests: XCTestCase {
    func testCalendarPeriodsResetAtUTCDayMondayAndTheFirst() {
        // Wednesday 2026-03-04 10:00 UTC.
        let now = Clock.start
        XCTAssertEqual(UTCCalendar.reset(of: .day, at: now), Clock.utc(2026, 3, 5) / Clock.second)
        XCTAssertEqual(UTCCalendar.reset(of: .week, at: now), Clock.utc(2026, 3, 9) / Clock.second, "next Monday")
        XCTAssertEqual(UTCCalendar.reset(of: .month, at: now), Clock.utc(2026, 4, 1) / Clock.second)
        // The last nanosecond of a period belongs to it; the next one starts the next.
        for period in BudgetPeriod.allCases {
            let boundary = UTCCalendar.reset(of: period, at: now) * Clock.second
            XCTAssertEqual(
                UTCCalendar.periodNumber(period, at: boundary - 1) + 1, UTCCalendar.periodNumber(period, at: boundary)
            )
        }
        // A Monday at 00:00 starts a week; Sunday 23:59 is still the old one.
        let monday = Clock.utc(2026, 3, 9)
        XCTAssertEqual(UTCCalendar.start(of: .week, number: UTCCalendar.periodNumber(.week, at: monday)), monday / Clock.second)
        XCTAssertEqual(UTCCalendar.periodNumber(.week, at: Clock.utc(2026, 3, 8, 23, 59)) + 1,
                       UTCCalendar.periodNumber(.week, at: monday))
        XCTAssertEqual(UTCCalendar.periodNumber(.week, at: Clock.utc(1970, 1, 5)), 1, "1970-01-05 was a Monday")
        // Month ends of every length, and the year's turn.
        XCTAssertEqual(UTCCalendar.reset(of: .month, at: Clock.utc(2024, 2, 29, 23, 59)), Clock.utc(2024, 3, 1) / Clock.second)
        XCTAssertEqual(UTCCalendar.reset(of: .month, at: Clock.utc(2026, 2, 28, 12)), Clock.utc(2026, 3, 1) / Clock.second)
        XCTAssertEqual(UTCCalendar.reset(of: .month, at: Clock.utc(2026, 12, 31, 23, 59)), Clock.utc(2027, 1, 1) / Clock.second)
        XCTAssertEqual(UTCCalendar.reset(of: .day, at: Clock.utc(2026, 12, 31, 23, 59)), Clock.utc(2027, 1, 1) / Clock.second)
        for day: Int64 in stride(from: 0, to: 40_000, by: 37) {
            let date = UTCCalendar.civil(fromDays: day)
            XCTAssertEqual(UTCCalendar.days(year: date.year, month: date.month, day: date.day), day)
        }
    }

    func testABudgetRefusesWhenSpentAndResetsAtTheBoundary() throws {
        for (period, next) in [(BudgetPeriod.day, Clock.utc(2026, 3, 5)), (.week, Clock.utc(2026, 3, 9)),
                               (.month, Clock.utc(2026, 4, 1))] {
            let limiter = try RateLimiter(
                region: try self.makeRegion(), holder: 0,
                keys: self.makeKeys([("k", KeyLimits(key: LimitSet(budgets: [BudgetLimit(period: period, tokens: 1_000)])))])
            )
            let request = AdmissionRequest(key: "k", model: "m", estimatedTokens: 400)
            _ = try self.admitted(limiter.admit(request, now: Clock.start))
            _ = try self.admitted(limiter.admit(request, now: Clock.start))
            let refusal = try self.refused(limiter.admit(request, now: next - 1))
            XCTAssertEqual(refusal.kind, .budget)
            XCTAssertEqual(refusal.label, "tokens per \(period.rawValue)")
            XCTAssertEqual(refusal.scope, .key("k"))
            XCTAssertEqual([refusal.limit, refusal.used, refusal.requested], [1_000, 800, 400])
            XCTAssertEqual(refusal.resetsAt, next / Clock.second)
            XCTAssertEqual(refusal.retryAfter, .nanoseconds(1))
            XCTAssertFalse(refusal.neverFits)
            _ = try self.admitted(limiter.admit(AdmissionRequest(key: "k", model: "m", estimatedTokens: 200), now: next - 1))
            _ = try self.refused(limiter.admit(AdmissionRequest(key: "k", model: "m", estimatedTokens: 0), now: next - 1))
            let fresh = try self.admitted(limiter.admit(request, now: next))
            XCTAssertNotNil(fresh.ticket)
            XCTAssertEqual(limiter.usage(now: next).first?.limits.first?.used, 400, "a new period starts at zero")
        }
    }

    func testSettlementRefundsAndChargesWithinThePeriodAndOnlyChargesAfterIt() throws {
        let limiter = try RateLimiter(
            region: try self.makeRegion(), holder: 0,
            keys: self.makeKeys([("k", KeyLimits(key: LimitSet(budgets: [BudgetLimit(period: .day, tokens: 1_000)])))])
        )
        func used(_ now: Int64) -> Int? { limiter.usage(now: now).first?.limits.first?.used }
        let request = AdmissionRequest(key: "k", model: "m", estimatedTokens: 500)
        let refunded = try self.admitted(limiter.admit(request, now: Clock.start)).ticket
        XCTAssertTrue(limiter.settle(refunded, actualTokens: 120, now: Clock.start))
        XCTAssertEqual(used(Clock.start), 120)
        XCTAssertFalse(limiter.settle(refunded, actualTokens: 0, now: Clock.start), "settled exactly once")
        XCTAssertEqual(used(Clock.start), 120)
        let charged = try self.admitted(limiter.admit(request, now: Clock.start)).ticket
        limiter.settle(charged, actualTokens: 900, now: Clock.start)
        XCTAssertEqual(used(Clock.start), 1_020, "an answer longer than its estimate is charged in full")
        _ = try self.refused(limiter.admit(AdmissionRequest(key: "k", model: "m", estimatedTokens: 1), now: Clock.start))
        let neverAnswered = try self.admitted(limiter.admit(request, now: Clock.utc(2026, 3, 5, 1))).ticket
        limiter.settle(neverAnswered, actualTokens: nil, now: Clock.utc(2026, 3, 5, 1))
        XCTAssertEqual(used(Clock.utc(2026, 3, 5, 1)), 0, "an upstream that never answered costs nothing")
        // Reserved before midnight, settled after: the refund is void, the extra lands in the new day.
        let lateNight = Clock.utc(2026, 3, 5, 23, 59)
        let straddling = try self.admitted(limiter.admit(AdmissionRequest(key: "k", model: "m", estimatedTokens: 100), now: lateNight)).ticket
        limiter.settle(straddling, actualTokens: 350, now: Clock.utc(2026, 3, 6))
        XCTAssertEqual(used(Clock.utc(2026, 3, 6)), 250)
        let refundAfterMidnight = try self.admitted(limiter.admit(request, now: Clock.utc(2026, 3, 6, 23, 59))).ticket
        limiter.settle(refundAfterMidnight, actualTokens: 0, now: Clock.utc(2026, 3, 7))
        XCTAssertEqual(used(Clock.utc(2026, 3, 7)), 0)
    }

    /// Random requests and settlements over months against a dictionary of (period → used).
    func testRandomSequencesMatchAPlainModel() throws {
        var random = SeededGenerator(seed: 7)
        let budgets = [BudgetLimit(period: .day, tokens: 5_000), BudgetLimit(period: .week, tokens: 20_000),
                       BudgetLimit(period: .month, tokens: 60_000)]
        let limiter = try RateLimiter(
            region: try self.makeRegion(), holder: 0,
            keys: self.makeKeys([("k", KeyLimits(key: LimitSet(budgets: budgets)))])
        )
        var model: [BudgetPeriod: [Int64: Int]] = [:]
        var now = Clock.start
        var admittedCount = 0
        for _ in 0..<4_000 {
            now += Int64.random(in: 0...(3 * Clock.hour), using: &random)
            let estimate = Int.random(in: 0...1_500, using: &random)
            let fits = budgets.allSatisfy { budget in
                let used = model[budget.period]?[UTCCalendar.periodNumber(budget.period, at: now)] ?? 0
                return used + max(estimate, 1) <= budget.tokens
            }
            let decision = limiter.admit(AdmissionRequest(key: "k", model: "m", estimatedTokens: estimate), now: now)
            guard case .admitted(let admission) = decision else {
                XCTAssertFalse(fits, "refused although every budget has room")
                continue
            }
            XCTAssertTrue(fits, "admitted although a budget is spent")
            admittedCount += 1
            let actual = Int.random(in: 0...2_000, using: &random)
            for budget in budgets {
                model[budget.period, default: [:]][UTCCalendar.periodNumber(budget.period, at: now), default: 0] +=
                    actual
            }
            limiter.settle(admission.ticket, actualTokens: actual, now: now)
            for (budget, usage) in zip(budgets, limiter.usage(now: now)[0].limits) {
                XCTAssertEqual(usage.used, model[budget.period]?[UTCCalendar.periodNumber(budget.period, at: now)] ?? 0)
            }
        }
        XCTAssertGreaterThan(admittedCount, 300)
    }

    func testBudgetWordPacksPeriodAndTokens() {
        let word = BudgetWord(period: 20_516, used: 123_456_789)
        XCTAssertEqual(BudgetWord(raw: word.raw), word)
        XCTAssertEqual(word.used(in: 20_516), 123_456_789)
        XCTAssertEqual(word.used(in: 20_517), 0)
        XCTAssertEqual(BudgetWord(period: 1, used: .max).used, BudgetWord.maximumTokens, "saturates, never spills")
        XCTAssertGreaterThanOrEqual(BudgetWord.maximumTokens, 1_000_000_000_000, "holds the largest configurable budget")
    }
}
