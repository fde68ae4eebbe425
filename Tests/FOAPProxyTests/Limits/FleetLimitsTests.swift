import FOAPConfig
import FOAPLimits
import FOAPProxy
import FOAPRedis
import Foundation
import NIOCore
import NIOHTTP1
import RedisTestSupport
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// Limits decided by one real `redis-server` for several proxies (hosts): together they admit exactly the limit,
/// a refusal reads as the local one, and a stopped Redis leads to the documented fallback within the timeout.
final class FleetLimitsTests: XCTestCase {
    static let key = "sk-foap-fleet-0123456789"

    private func startRedis() throws -> RedisServer {
        let redis = try RedisServer()
        self.addTeardownBlock {
            redis.signal(SIGCONT)
            redis.stop()
        }
        return redis
    }

    /// A proxy (one host of `fleetSize`) whose key `team` has `limits`; fleet-wide through `redis` unless nil.
    private func makeProxy(
        limits: String, redis: RedisServer?, fallback: FleetLimitsSettings.Fallback = .local, fleetSize: Int = 2,
        host: String = "host-a", region: LimitsRegion? = nil, usage: Bool = true,
        refusalTrust: TimeAmount = .seconds(1)
    ) async throws -> ProxyHarness {
        let digest = ClientKeyDigest(hashing: Self.key.utf8).hex
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("foap-fleet-\(UUID()).json")
        try """
            {"keys": [{"name": "team", "sha256": "\(digest)", "models": ["*"], "limits": \(limits)}]}
            """.write(to: file, atomically: true, encoding: .utf8)
        let harness = try await ProxyHarness(
            environment: ["MOCK_KEY": "sk-upstream-secret", "FOAP_CLIENT_KEYS": file.path],
            configure: { configuration in
                guard let redis else { return }
                var fleet = FleetLimitsSettings(
                    url: redis.url, timeout: .milliseconds(25), fallback: fallback, fleetSize: fleetSize, hostID: host)
                fleet.circuitFailures = 3
                fleet.circuitCoolDown = .milliseconds(300)
                fleet.refusalTrust = refusalTrust
                configuration.limits.fleet = fleet
            },
            limitsRegion: try region ?? LimitsRegion(path: nil, now: LimitsClock.now()),
            respond: { _ in .json(usage ? #"{"id":"c","usage":{"prompt_tokens":3,"completion_tokens":2}}"# : #"{"id":"c"}"#) })
        self.addTeardownBlock {
            try await harness.stop()
            try? FileManager.default.removeItem(at: file)
        }
        return harness
    }

    private func chat(_ harness: ProxyHarness) async throws -> (status: UInt, headers: HTTPHeaders, body: String) {
        let response = try await harness.send(
            .POST, "/v1/chat/completions", json: #"{"model":"gpt-test","max_tokens":10}"#,
            headers: [("Authorization", "Bearer \(Self.key)")])
        return (response.status, response.headers, response.body)
    }

    private static func error(_ body: String) -> [String: Any] {
        let object = try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any]
        return object?["error"] as? [String: Any] ?? [:]
    }

    func testTwoProxiesSharingOneRedisAdmitExactlyTheLimitTogether() async throws {
        let redis = try self.startRedis()
        let limits = #"{"requests_per_minute": 7, "concurrent_requests": 4}"#
        let first = try await self.makeProxy(limits: limits, redis: redis, host: "host-a")
        let second = try await self.makeProxy(limits: limits, redis: redis, host: "host-b")
        var admitted = 0
        var refused = 0
        for index in 0..<20 {
            let response = try await self.chat(index % 2 == 0 ? first : second)
            if response.status == 200 {
                admitted += 1
                XCTAssertEqual(response.headers.first(name: "x-ratelimit-limit-requests"), "7", "the fleet's limit")
                // Redis's GCRA rounds the remaining down by one unit where the local math does not (7 RPM: 5, not 6).
                let remaining = Int(response.headers.first(name: "x-ratelimit-remaining-requests") ?? "") ?? -1
                XCTAssertTrue((7 - admitted - 1...7 - admitted).contains(remaining), "\(remaining) after \(admitted)")
            } else {
                refused += 1
                XCTAssertEqual(response.status, 429)
            }
        }
        XCTAssertEqual(admitted, 7, "each host alone would admit 7 (its share, 4, only while Redis is away)")
        XCTAssertEqual(refused, 13)
        // Each host asked Redis until its first refusal, later ones came from its own region: 7 admissions, their
        // 7 settlements (the leases) and a refusal or two, where asking for every request took 27 calls.
        let asked = try redis.functionCalls()
        XCTAssertLessThan(asked, 20)
        XCTAssertGreaterThanOrEqual(asked, 8)
        let metrics = first.engine.metrics.render() ?? ""
        XCTAssertTrue(metrics.contains(#"foap_limits_backend_requests_total{result="ok"}"#), metrics)
        XCTAssertTrue(metrics.contains("# TYPE foap_limits_backend_latency_seconds histogram"), metrics)
        let value = { (prefix: String) in
            metrics.split(separator: "\n").first { $0.hasPrefix(prefix) }?.split(separator: " ").last.map(String.init)
        }
        // This host asked until its first refusal: its four admissions, then the refusal.
        XCTAssertEqual(value(#"foap_limits_backend_requests_total{result="ok"} "#), "5")
        XCTAssertEqual(value("foap_limits_backend_latency_seconds_count "), "5", "every answer timed")
        XCTAssertEqual(value(#"foap_limits_backend_latency_seconds_bucket{le="+Inf"} "#), "5")
    }

    func testARefusalFromRedisIsTheSame429AsALocalOne() async throws {
        let redis = try self.startRedis()
        let limits = #"{"requests_per_minute": 1}"#
        let local = try await self.makeProxy(limits: limits, redis: nil)
        let fleet = try await self.makeProxy(limits: limits, redis: redis, fleetSize: 1)
        var answers: [(status: UInt, headers: HTTPHeaders, body: String)] = []
        for harness in [local, fleet] {
            let admitted = try await self.chat(harness)
            XCTAssertEqual(admitted.status, 200)
            answers.append(try await self.chat(harness))
        }
        let (localAnswer, fleetAnswer) = (answers[0], answers[1])
        XCTAssertEqual(localAnswer.status, 429)
        XCTAssertEqual(fleetAnswer.status, 429)
        XCTAssertEqual(Self.error(fleetAnswer.body) as NSDictionary, Self.error(localAnswer.body) as NSDictionary)
        XCTAssertEqual(
            fleetAnswer.headers.map(\.name).sorted(), localAnswer.headers.map(\.name).sorted(), "\(fleetAnswer.headers)")
        for name in ["retry-after", "content-type"] {
            XCTAssertEqual(fleetAnswer.headers.first(name: name), localAnswer.headers.first(name: name), name)
        }
        let localWait = Int(localAnswer.headers.first(name: "retry-after-ms") ?? "") ?? 0
        let fleetWait = Int(fleetAnswer.headers.first(name: "retry-after-ms") ?? "") ?? -1
        XCTAssertLessThan(abs(localWait - fleetWait), 2000, "both about a minute")
    }

    /// Redis loses its data twice — `FLUSHALL`, then a restart without persistence — and the next admissions still
    /// count what this host spent: it sends its own record along, and Redis puts it back in the same call.
    func testABudgetSpentThroughRedisIsNotResetWhenRedisLosesItsData() async throws {
        let redis = try self.startRedis()
        // Each request reserves 19 tokens (36 body bytes ÷ 4 + max_tokens 10), and keeps them (no usage in answers).
        let harness = try await self.makeProxy(
            limits: #"{"tokens_per_day": 50}"#, redis: redis, fallback: .deny, fleetSize: 1, usage: false)
        for _ in 0..<2 {
            let spent = try await self.chat(harness)
            XCTAssertEqual(spent.status, 200, spent.body)
        }
        _ = try redis.cli("FLUSHALL")
        let afterFlush = try await self.chat(harness)
        XCTAssertEqual(afterFlush.status, 429, "38 of 50 spent: 19 more do not fit")
        XCTAssertTrue(afterFlush.body.contains("Limit 50, Used 38, Requested 19"), afterFlush.body)

        redis.stop()
        try redis.start()
        var afterRestart = try await self.chat(harness)
        let deadline = Date().addingTimeInterval(15)
        while afterRestart.status == 503, Date() < deadline {
            // `deny` while the connection comes back: never a 200 from an empty Redis.
            try await Task.sleep(nanoseconds: 50_000_000)
            afterRestart = try await self.chat(harness)
        }
        XCTAssertEqual(afterRestart.status, 429, afterRestart.body)
        XCTAssertTrue(afterRestart.body.contains("Limit 50, Used 38, Requested 19"), afterRestart.body)
        XCTAssertEqual(Self.error(afterRestart.body)["code"] as? String, "insufficient_quota")
    }

    /// One refusal from Redis is kept in the host's region: every worker of the host (two proxies on one region)
    /// repeats it — the same 429, a wait that counts down — and Redis is not asked again until then.
    func testARefusalIsRepeatedByEveryWorkerOfTheHostWithoutAskingRedis() async throws {
        let redis = try self.startRedis()
        let region = try LimitsRegion(path: nil, now: LimitsClock.now())
        let limits = #"{"requests_per_minute": 1}"#
        let first = try await self.makeProxy(limits: limits, redis: redis, fleetSize: 1, region: region)
        let second = try await self.makeProxy(limits: limits, redis: redis, fleetSize: 1, region: region)
        let admitted = try await self.chat(first)
        XCTAssertEqual(admitted.status, 200)
        let fromRedis = try await self.chat(first)
        XCTAssertEqual(fromRedis.status, 429)
        // Two admissions so far (a request rate alone has nothing to settle).
        let calls = try redis.functionCalls()
        XCTAssertEqual(calls, 2)
        let message = try XCTUnwrap(Self.error(fromRedis.body)["message"] as? String)
        let stem = try XCTUnwrap(message.range(of: "Please try again in")).lowerBound
        var waits = [Int(fromRedis.headers.first(name: "retry-after-ms") ?? "") ?? -1]
        for index in 0..<6 {
            let answer = try await self.chat(index % 2 == 0 ? second : first)
            XCTAssertEqual(answer.status, 429)
            let error = Self.error(answer.body)
            for field in ["type", "code"] {
                XCTAssertEqual(error[field] as? String, Self.error(fromRedis.body)[field] as? String, field)
            }
            XCTAssertTrue((error["message"] as? String)?.hasPrefix(message[..<stem]) ?? false, answer.body)
            XCTAssertEqual(answer.headers.map(\.name).sorted(), fromRedis.headers.map(\.name).sorted())
            waits.append(Int(answer.headers.first(name: "retry-after-ms") ?? "") ?? -1)
        }
        XCTAssertEqual(try redis.functionCalls(), calls, "every refusal after Redis's came from the host's region")
        XCTAssertEqual(waits, waits.sorted(by: >), "the wait counts down")
        XCTAssertGreaterThan(waits.last ?? 0, 50_000, "until Redis's time, about a minute")
        // Another host has a region of its own: it asks Redis.
        let other = try await self.makeProxy(limits: limits, redis: redis, fleetSize: 1)
        let elsewhere = try await self.chat(other)
        XCTAssertEqual(elsewhere.status, 429)
        XCTAssertEqual(try redis.functionCalls(), calls + 1)
    }

    /// A budget refusal names its reset (midnight UTC) but is trusted only briefly: reservations settling lower
    /// can free a budget at any time, so after `refusalTrust` the host asks Redis again. The trust is the default's
    /// second: with 300 ms, counting Redis's calls between two requests (a `redis-cli` process) outlasted it once on
    /// a loaded CI machine, and the repeated refusal was asked of Redis.
    func testABudgetRefusalIsTrustedOnlyBriefly() async throws {
        let redis = try self.startRedis()
        let harness = try await self.makeProxy(
            limits: #"{"tokens_per_day": 30}"#, redis: redis, fleetSize: 1, usage: false,
            refusalTrust: .seconds(1))
        let spent = try await self.chat(harness)
        XCTAssertEqual(spent.status, 200)
        let fromRedis = try await self.chat(harness)
        XCTAssertEqual(fromRedis.status, 429)
        let calls = try redis.functionCalls()
        let repeated = try await self.chat(harness)
        XCTAssertEqual(repeated.status, 429)
        XCTAssertEqual(Self.error(repeated.body) as NSDictionary, Self.error(fromRedis.body) as NSDictionary)
        let waits = [repeated, fromRedis].map { Int($0.headers.first(name: "retry-after") ?? "") ?? -100 }
        XCTAssertLessThanOrEqual(abs(waits[0] - waits[1]), 1, "both until midnight UTC: \(waits)")
        XCTAssertEqual(try redis.functionCalls(), calls, "repeated from the host's region")
        try await Task.sleep(nanoseconds: 1_100_000_000)
        let again = try await self.chat(harness)
        XCTAssertEqual(again.status, 429)
        XCTAssertEqual(try redis.functionCalls(), calls + 1, "asked Redis once the trust ran out")
    }

    func testStoppedRedisFallsBackToThisHostsShare() async throws {
        try await self.checkStoppedRedis(.local) { response in
            XCTAssertEqual(response.status, 200)
            XCTAssertEqual(response.headers.first(name: "x-ratelimit-limit-requests"), "50", "100 ÷ 2 hosts")
        }
    }

    func testStoppedRedisFailsOpenWithAllow() async throws {
        try await self.checkStoppedRedis(.allow) { response in
            XCTAssertEqual(response.status, 200)
            XCTAssertNil(response.headers.first(name: "x-ratelimit-limit-requests"), "unlimited while Redis is away")
        }
    }

    func testStoppedRedisFailsClosedWithDeny() async throws {
        try await self.checkStoppedRedis(.deny) { response in
            XCTAssertEqual(response.status, 503)
            XCTAssertEqual(response.headers.first(name: "retry-after"), "1")
            XCTAssertEqual(Self.error(response.body)["code"] as? String, "rate_limiter_unavailable")
        }
    }

    /// Redis decides; `kill -STOP` → every answer within the timeout is `fallback`'s; `kill -CONT` → Redis again.
    private func checkStoppedRedis(
        _ fallback: FleetLimitsSettings.Fallback,
        expect: ((status: UInt, headers: HTTPHeaders, body: String)) -> Void
    ) async throws {
        let redis = try self.startRedis()
        let harness = try await self.makeProxy(
            limits: #"{"requests_per_minute": 100}"#, redis: redis, fallback: fallback)
        let before = try await self.chat(harness)
        XCTAssertEqual(before.headers.first(name: "x-ratelimit-limit-requests"), "100", "Redis decided")
        redis.signal(SIGSTOP)
        var slowest = 0.0
        for _ in 0..<8 {
            let started = Date()
            let response = try await self.chat(harness)
            slowest = max(slowest, Date().timeIntervalSince(started))
            expect(response)
        }
        print("fleet fallback \(fallback): slowest answer while Redis was stopped \(Int(slowest * 1000)) ms")
        XCTAssertLessThan(slowest, 0.5, "the 25 ms timeout (then the open circuit) bounds every wait")
        let metrics = harness.engine.metrics.render() ?? ""
        XCTAssertTrue(metrics.contains(#"foap_limits_backend_fallbacks_total{mode="\#(fallback.rawValue)"} 8"#), metrics)
        XCTAssertTrue(metrics.contains(#"foap_limits_backend_requests_total{result="circuit_open"}"#), metrics)
        XCTAssertEqual(harness.logEntries("limits backend unavailable, using the fallback").count, 1, "one line")
        redis.signal(SIGCONT)
        var back = false
        let deadline = Date().addingTimeInterval(15)
        while !back, Date() < deadline {
            let response = try await self.chat(harness)
            back = response.headers.first(name: "x-ratelimit-limit-requests") == "100"
            if !back { try await Task.sleep(nanoseconds: 100_000_000) }
        }
        XCTAssertTrue(back, "Redis decides again once it answers")
    }
}
