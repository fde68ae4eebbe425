import FOAPRedis
import NIOCore
import NIOPosix
import RedisTestSupport
import XCTest

/// The Functions library against a real `redis-server`: the same decisions as the local limiter, atomically.
final class RedisLimitsTests: XCTestCase {
    private var group: MultiThreadedEventLoopGroup!
    private var server: RedisServer!
    private var client: RedisClient!
    private var limits: RedisLimits!

    override func setUp() async throws {
        self.group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        self.server = try RedisServer()
        let configuration = RedisLimits.configuration(RedisConfiguration(url: self.server.url))
        self.client = try RedisClient(
            configuration: configuration, group: self.group,
            backoff: RedisBackoff(initial: .milliseconds(20), maximum: .milliseconds(200))
        )
        self.limits = RedisLimits(client: self.client)
    }

    override func tearDown() async throws {
        try? await self.client.shutdown().get()
        self.server.stop()
        try? await self.group.shutdownGracefully()
    }

    private func check(
        _ cells: [RedisLimitCell],
        lease: String = "lease-1",
        tokens: Int = 100,
        declared: Int? = nil,
        shares: [RedisLimitCell: RedisBudgetShare] = [:]
    ) -> RedisAdmissionCheck {
        RedisAdmissionCheck(
            tag: "team-a", host: "host-1", leaseID: lease, estimatedTokens: tokens, declaredOutputTokens: declared,
            cells: cells, shares: shares
        )
    }

    private func admitted(_ check: RedisAdmissionCheck) async throws -> RedisAdmission {
        switch try await self.limits.admit(check).get() {
        case .admitted(let admission): return admission
        case .refused(let refusal): throw Unexpected("refused: \(refusal)")
        }
    }

    private func refused(_ check: RedisAdmissionCheck) async throws -> RedisRefusal {
        switch try await self.limits.admit(check).get() {
        case .admitted(let admission): throw Unexpected("admitted: \(admission)")
        case .refused(let refusal): return refusal
        }
    }

    /// Every key's value, to prove a refusal wrote nothing.
    private func snapshot() async throws -> [String: String] {
        let keys = try await self.client.send(RedisCommand("KEYS", "*")).get().elements?.compactMap(\.string) ?? []
        var values: [String: String] = [:]
        for key in keys {
            let dump = try await self.client.send(RedisCommand("DUMP", key)).get()
            let ttl = try await self.client.send(RedisCommand("PTTL", key)).get().integerValue ?? -3
            values[key] = "\(dump) ttl>0:\(ttl > 0)"
        }
        return values
    }

    private let requests = RedisLimitCell(
        scope: "key:team-a", limit: .requestRate(periodSeconds: 60, limit: 2, burst: 2))
    private let tokens = RedisLimitCell(
        scope: "key:team-a", limit: .tokenRate(periodSeconds: 60, limit: 1_000, burst: 1_000))
    private let day = RedisLimitCell(scope: "group:research", limit: .budget(.day, tokens: 1_000))

    private func slots(_ limit: Int, ttl: TimeAmount = .seconds(30)) -> RedisLimitCell {
        RedisLimitCell(scope: "model:team-a:gpt-4o*", limit: .concurrency(limit: limit, leaseTTL: ttl))
    }

    func testARequestRateAdmitsItsBurstThenRefusesWithTheWaitForOneMoreRequest() async throws {
        let first = try await self.admitted(self.check([self.requests]))
        XCTAssertEqual(first.cells.map(\.remaining), [1])
        XCTAssertEqual(first.cells.map(\.units), [1])
        _ = try await self.admitted(self.check([self.requests]))
        let refusal = try await self.refused(self.check([self.requests]))
        XCTAssertEqual(refusal.cell, self.requests)
        XCTAssertEqual(refusal.used, 2)
        XCTAssertFalse(refusal.neverFits)
        // One request refills in 30 s; the two taken a moment ago leave just under that to wait.
        let wait = try XCTUnwrap(refusal.retryAfter).nanoseconds
        XCTAssertGreaterThan(wait, TimeAmount.seconds(29).nanoseconds)
        XCTAssertLessThanOrEqual(wait, TimeAmount.seconds(30).nanoseconds)
    }

    func testARefusedCheckChangesNothingAnywhere() async throws {
        _ = try await self.admitted(self.check([self.requests, self.tokens, self.day, self.slots(1)], lease: "holder"))
        let before = try await self.snapshot()
        XCTAssertEqual(before.count, 4)
        // The concurrency slot is taken: the rates and the budget that would admit must not be charged.
        let refusal = try await self.refused(self.check([self.day, self.tokens, self.slots(1), self.requests]))
        XCTAssertEqual(refusal.cell, self.slots(1))
        XCTAssertEqual(refusal.retryAfter, .seconds(1))
        let after = try await self.snapshot()
        XCTAssertEqual(after, before)
    }

    func testTheLongestRefusalIsReported() async throws {
        _ = try await self.admitted(self.check([self.requests, self.day, self.slots(1)], lease: "a", tokens: 1_000))
        _ = try await self.admitted(self.check([self.requests], lease: "b", tokens: 0))
        // Refused by all three; the budget (until midnight UTC) outlasts the rate (30 s) and the slot (1 s).
        let refusal = try await self.refused(self.check([self.requests, self.day, self.slots(1)], lease: "c"))
        XCTAssertEqual(refusal.cell, self.day)
        XCTAssertEqual(refusal.used, 1_000)
        let resetsAt = try XCTUnwrap(refusal.resetsAt)
        XCTAssertEqual(resetsAt % 86_400, 0, "a day budget resets at 00:00 UTC")
        XCTAssertEqual(Double(resetsAt), Date().timeIntervalSince1970 + 86_400, accuracy: 86_400)
    }

    func testADeclaredOutputLargerThanATokenLimitNeverFits() async throws {
        let refusal = try await self.refused(self.check([self.requests, self.tokens], tokens: 10, declared: 1_001))
        XCTAssertEqual(refusal.cell, self.tokens)
        XCTAssertTrue(refusal.neverFits)
        XCTAssertNil(refusal.retryAfter)
        XCTAssertEqual(refusal.requested, 1_001)
        let untouched = try await self.snapshot()
        XCTAssertEqual(untouched, [:])
    }

    func testSettlementReplacesTheReservationByTheRealCount() async throws {
        let check = self.check([self.tokens, self.day], tokens: 900)
        let admission = try await self.admitted(check)
        XCTAssertEqual(admission.cells.map(\.units), [900, 900])
        XCTAssertEqual(admission.cells.map(\.remaining), [100, 100])
        _ = try await self.refused(self.check([self.day], lease: "2", tokens: 200))
        try await self.limits.settle(admission, of: check, actualTokens: 50).get()
        let next = try await self.admitted(self.check([self.tokens, self.day], lease: "2", tokens: 200))
        XCTAssertEqual(next.cells.map(\.remaining), [750, 750])
    }

    func testALeaseThatIsNotRenewedFreesItsSlotAfterItsTTL() async throws {
        let slot = self.slots(1, ttl: .milliseconds(300))
        _ = try await self.admitted(self.check([slot], lease: "crashed-host"))
        _ = try await self.refused(self.check([slot], lease: "waiting"))
        try await Task.sleep(for: .milliseconds(400))
        _ = try await self.admitted(self.check([slot], lease: "waiting"))
    }

    func testARenewedLeaseKeepsItsSlotAndARenewalAfterLossTakesItAgain() async throws {
        let slot = self.slots(1, ttl: .milliseconds(300))
        let stream = self.check([slot], lease: "long-stream")
        let admission = try await self.admitted(stream)
        for _ in 0..<4 {
            try await Task.sleep(for: .milliseconds(150))
            let held = try await self.limits.renew(stream, ttl: .milliseconds(300)).get()
            XCTAssertEqual(held, [true])
        }
        _ = try await self.refused(self.check([slot], lease: "other"))
        _ = try await self.client.send(RedisCommand("FLUSHALL")).get()
        let held = try await self.limits.renew(stream, ttl: .milliseconds(300)).get()
        XCTAssertEqual(held, [false], "the lease was lost with the data, and is taken again")
        _ = try await self.refused(self.check([slot], lease: "other"))
        try await self.limits.settle(admission, of: stream, actualTokens: nil).get()
        _ = try await self.admitted(self.check([slot], lease: "other"))
    }

    func testTheLibraryIsLoadedAgainAfterFunctionFlush() async throws {
        _ = try await self.admitted(self.check([self.requests]))
        _ = try await self.client.send(RedisCommand("FUNCTION", "FLUSH")).get()
        _ = try await self.admitted(self.check([self.requests]))
        let listed = try await self.client.send(RedisCommand("FUNCTION", "LIST", "LIBRARYNAME", "foap_limits_v1")).get()
        XCTAssertEqual(listed.elements?.count, 1)
    }

    func testTheLibraryIsLoadedAgainAfterARestartWithoutPersistence() async throws {
        let eventLoop = self.group.next()
        _ = try await self.limits.admit(self.check([self.requests]), on: eventLoop).get()
        self.server.stop()
        try self.server.start()
        let deadline = ContinuousClock.now + .seconds(5)
        while true {
            do {
                _ = try await self.admitted(self.check([self.requests]))
                break
            } catch let error as RedisError where ContinuousClock.now < deadline {
                _ = error
                try await Task.sleep(for: .milliseconds(25))
            }
        }
    }

    func testAHostReseedsItsBudgetShareAfterRedisLostItsData() async throws {
        let admission = try await self.admitted(self.check([self.day], tokens: 700))
        let period = admission.cells[0].periodNumber
        _ = try await self.client.send(RedisCommand("FLUSHALL")).get()
        _ = try await self.admitted(self.check([self.day], lease: "2", tokens: 0))
        // The host re-seeds what it knows it spent; a lower or older figure changes nothing.
        let raised = try await self.limits.seed(
            tag: "team-a", host: "host-1", budgets: [(self.day, period, 700)]).get()
        XCTAssertEqual(raised, 1)
        let again = try await self.limits.seed(
            tag: "team-a", host: "host-1", budgets: [(self.day, period, 600), (self.day, period - 1, 900)]).get()
        XCTAssertEqual(again, 0)
        let refusal = try await self.refused(self.check([self.day], lease: "3", tokens: 400))
        XCTAssertEqual(refusal.used, 700)
    }

    func testAnAdmissionCarryingTheHostsShareRestoresItInTheSameCall() async throws {
        let admission = try await self.admitted(self.check([self.day], tokens: 700))
        let period = admission.cells[0].periodNumber
        _ = try await self.client.send(RedisCommand("FLUSHALL")).get()
        // The host knows it spent 700 today: the very admission that finds Redis empty counts it.
        let spent = [self.day: RedisBudgetShare(periodNumber: period, tokens: 700)]
        let refusal = try await self.refused(self.check([self.day], lease: "2", tokens: 400, shares: spent))
        XCTAssertEqual(refusal.used, 700)
        // A figure at or below what Redis has (the usual case), or of another period, changes nothing.
        let lower = [self.day: RedisBudgetShare(periodNumber: period, tokens: 500)]
        let fits = try await self.admitted(self.check([self.day], lease: "3", tokens: 300, shares: lower))
        XCTAssertEqual(fits.cells.map(\.remaining), [0])
        _ = try await self.client.send(RedisCommand("FLUSHALL")).get()
        let stale = [self.day: RedisBudgetShare(periodNumber: period - 1, tokens: 900)]
        let fresh = try await self.admitted(self.check([self.day], lease: "4", tokens: 100, shares: stale))
        XCTAssertEqual(fresh.cells.map(\.remaining), [900])
    }

    func testBudgetsResetAtMidnightOnMondayAndOnTheFirstUTC() async throws {
        let now = Int64(Date().timeIntervalSince1970)
        for period in RedisBudgetPeriod.allCases {
            let budget = RedisLimitCell(scope: "key:team-a", limit: .budget(period, tokens: 1))
            _ = try await self.admitted(self.check([budget], tokens: 1))
            let refusal = try await self.refused(self.check([budget], lease: "2", tokens: 1))
            let resetsAt = try XCTUnwrap(refusal.resetsAt)
            var time = time_t(resetsAt)
            var parts = tm()
            gmtime_r(&time, &parts)
            XCTAssertEqual([parts.tm_hour, parts.tm_min, parts.tm_sec], [0, 0, 0], "\(period)")
            XCTAssertGreaterThan(resetsAt, now)
            switch period {
            case .day: XCTAssertLessThanOrEqual(resetsAt, now + 86_400)
            case .week:
                XCTAssertEqual(parts.tm_wday, 1, "Monday")
                XCTAssertLessThanOrEqual(resetsAt, now + 7 * 86_400)
            case .month:
                XCTAssertEqual(parts.tm_mday, 1)
                XCTAssertLessThanOrEqual(resetsAt, now + 31 * 86_400)
            }
        }
    }

    func testKeysShareOneHashTagWithBracesEscaped() {
        XCTAssertEqual(self.day.key(tag: "research"), "foap:v1:{research}:group:research:budget:day")
        XCTAssertEqual(self.requests.key(tag: "a{b}%"), "foap:v1:{a%7Bb%7D%25}:key:team-a:rq:60")
    }
}

/// An admission that went the other way than the test expected.
private struct Unexpected: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
