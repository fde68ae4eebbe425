import FOAPConfig
import XCTest

@testable import FOAPLimits

/// The shared-memory GCRA against a plain token bucket in exact integer arithmetic, over random sequences of
/// requests, waits and settlements with an injected clock (fixed seeds: a failure replays).
final class RateReferenceTests: XCTestCase {
    /// A token bucket that refills continuously: `level` is tokens × period, so every step is exact.
    struct ReferenceBucket {
        let limit: Int64
        let period: Int64
        let burst: Int64
        var level: Int64
        var last: Int64

        init(_ rate: RateLimit, now: Int64) {
            self.limit = Int64(rate.limit)
            self.period = rate.period.seconds * Clock.second
            self.burst = Int64(rate.burst)
            self.level = self.burst * self.period
            self.last = now
        }

        mutating func refill(_ now: Int64) {
            self.level = min(self.burst * self.period, self.level + (now - self.last) * self.limit)
            self.last = now
        }

        /// Takes `units` if `max(units, 1)` fit (a request that reserves nothing still needs room for one).
        mutating func take(_ units: Int64, now: Int64) -> Bool {
            self.refill(now)
            guard self.level >= max(units, 1) * self.period else {
                return false
            }
            self.level -= units * self.period
            return true
        }

        /// A settlement: a refund never fills past the burst; an extra charge may go below empty.
        mutating func adjust(_ units: Int64, now: Int64) {
            self.refill(now)
            self.level = min(self.burst * self.period, self.level - units * self.period)
        }

        func remaining() -> Int {
            Int(max(0, min(self.burst, self.level / self.period)))
        }
    }

    /// Rates whose period divides evenly by the limit, so the GCRA's nanosecond increments are exact.
    static let rates: [RateLimit] = [
        RateLimit(metric: .requests, period: .second, limit: 10),
        RateLimit(metric: .requests, period: .minute, limit: 600),
        RateLimit(metric: .requests, period: .minute, limit: 600, burst: 25),
        RateLimit(metric: .requests, period: .hour, limit: 3_600, burst: 7_200),
        RateLimit(metric: .tokens, period: .minute, limit: 1_000),
        RateLimit(metric: .tokens, period: .second, limit: 500, burst: 100),
        RateLimit(metric: .tokens, period: .hour, limit: 200_000, burst: 5_000),
    ]

    func testDecisionsAndRemainingMatchTheReferenceBucket() throws {
        for (index, rate) in Self.rates.enumerated() {
            var random = SeededGenerator(seed: UInt64(index) + 42)
            let region = try self.makeRegion()
            let limiter = try RateLimiter(
                region: region, holder: 0, keys: self.makeKeys([("k", KeyLimits(key: LimitSet(rates: [rate])))])
            )
            var now = Clock.start
            var reference = ReferenceBucket(rate, now: now)
            // About one request's worth of refill per round, so admissions and refusals both happen often.
            let unitsPerRound = rate.metric == .tokens ? Int64(rate.burst / 4) : 1
            let step = rate.period.seconds * Clock.second / Int64(rate.limit) * unitsPerRound
            var admittedCount = 0
            for round in 0..<3_000 {
                now += step * Int64.random(in: 0...3, using: &random) / Int64.random(in: 1...2, using: &random)
                let estimate = rate.metric == .tokens ? Int.random(in: 0...(rate.burst + 20), using: &random) : 0
                let units = rate.metric == .tokens ? min(estimate, rate.burst) : 1
                let decision = limiter.admit(AdmissionRequest(key: "k", model: "m", estimatedTokens: estimate), now: now)
                let expected = reference.take(Int64(units), now: now)
                let context = "\(rate.label) burst \(rate.burst), round \(round)"
                switch decision {
                case .admitted(let admission):
                    XCTAssertTrue(expected, "admitted, the reference refuses: \(context)")
                    admittedCount += 1
                    let status = try XCTUnwrap(rate.metric == .requests ? admission.requests : admission.tokens)
                    XCTAssertEqual(status.remaining, reference.remaining(), context)
                    if rate.metric == .tokens, Bool.random(using: &random) {
                        let actual = Int.random(in: 0...(2 * max(units, 1)), using: &random)
                        limiter.settle(admission.ticket, actualTokens: actual, now: now)
                        reference.adjust(Int64(actual - units), now: now)
                    }
                case .refused(let refusal):
                    XCTAssertFalse(expected, "refused, the reference admits: \(context)")
                    XCTAssertFalse(refusal.neverFits)
                    let wait = try XCTUnwrap(refusal.retryAfter)
                    XCTAssertGreaterThan(wait, .zero, context)
                    // Waiting exactly the retry-after is enough, and a nanosecond less is not.
                    var probe = reference
                    let waited = now + Int64(wait.components.seconds) * Clock.second
                        + wait.components.attoseconds / 1_000_000_000
                    XCTAssertTrue(probe.take(Int64(units), now: waited), context)
                    probe = reference
                    XCTAssertFalse(probe.take(Int64(units), now: waited - 1), context)
                }
                let usage = try XCTUnwrap(limiter.usage(now: now).first?.limits.first)
                XCTAssertEqual(usage.remaining, reference.remaining(), context)
            }
            XCTAssertGreaterThan(admittedCount, 100, "the sequence exercised admissions of \(rate.label)")
        }
    }

    /// With rates that do not divide evenly, rounding may only make the limit stricter: in any window no more than
    /// burst + rate × window is ever admitted.
    func testUnevenRatesNeverAdmitMoreThanTheirAllowance() throws {
        for (limit, period) in [(7, RatePeriod.second), (13, .minute), (1_001, .hour)] {
            var random = SeededGenerator(seed: UInt64(limit))
            let rate = RateLimit(metric: .requests, period: period, limit: limit)
            let limiter = try RateLimiter(
                region: try self.makeRegion(), holder: 0,
                keys: self.makeKeys([("k", KeyLimits(key: LimitSet(rates: [rate])))])
            )
            let periodNanos = period.seconds * Clock.second
            var now = Clock.start
            var admittedAt: [Int64] = []
            for _ in 0..<5_000 {
                now += Int64.random(in: 0...(2 * periodNanos / Int64(limit)), using: &random)
                if case .admitted = limiter.admit(AdmissionRequest(key: "k", model: "m", estimatedTokens: 0), now: now) {
                    admittedAt.append(now)
                }
            }
            for (index, start) in admittedAt.enumerated() {
                let windowEnd = start + periodNanos
                let inWindow = admittedAt[index...].prefix { $0 < windowEnd }.count
                XCTAssertLessThanOrEqual(inWindow, 2 * limit, "at most a burst plus one period's refill")
            }
            let elapsed = Double(now - Clock.start) / Double(periodNanos)
            XCTAssertLessThanOrEqual(Double(admittedAt.count), Double(limit) * (elapsed + 1))
            XCTAssertGreaterThan(Double(admittedAt.count), Double(limit) * elapsed * 0.9, "and no stricter than needed")
        }
    }
}
