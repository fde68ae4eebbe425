import Foundation
import XCTest

@testable import FOAPConfig

/// `limit_tiers`, `limit_groups` and `keys[].limits` in the client key file: resolution, every error, warnings.
final class ClientKeyLimitsTests: XCTestCase {
    private let hashA = ClientKeysTests.hashA
    private let hashB = ClientKeysTests.hashB

    private func load(_ keys: String) throws -> (ConfigSnapshotResult, String) {
        let directory = try self.makeConfigDirectory(["models.json": ClientKeysTests.models])
        let path = try directory.write("secrets/clients.json", keys)
        return (try self.load(directory, environment: ["FOAP_CLIENT_KEYS": path]), path)
    }

    private func errors(_ keys: String) throws -> [String] {
        let (result, path) = try self.load(keys)
        guard case .failure(let error) = result else {
            XCTFail("expected the load to fail")
            return []
        }
        return error.errors.map { $0.description.replacingOccurrences(of: path, with: "KEYS") }
    }

    private func warnings(_ keys: String) throws -> [String] {
        let (result, path) = try self.load(keys)
        return try result.get().warnings.map { $0.description.replacingOccurrences(of: path, with: "KEYS") }
    }

    /// The issue's example, resolved: the tier alone, and a key laying its own numbers over the tier.
    func testTiersGroupsAndModelLimitsResolve() throws {
        let (result, _) = try self.load(
            """
            {"limit_tiers": {"standard": {"requests_per_minute": 600, "tokens_per_minute": 200000,
                                          "concurrent_requests": 16, "tokens_per_day": 5000000,
                                          "burst": {"tokens_per_minute": 50000}}},
             "limit_groups": {"research": {"tokens_per_month": 900000000, "concurrent_requests": 96}},
             "keys": [
               {"name": "team-a", "sha256": "\(hashA)", "models": ["*"], "limits": "standard"},
               {"name": "team-b", "sha256": "\(hashB)", "models": ["*"],
                "limits": {"tier": "standard", "group": "research", "requests_per_second": 20,
                           "concurrent_requests": 8, "burst": {"requests_per_second": 40},
                           "models": {"gpt-4o*": {"tokens_per_minute": 100000, "concurrent_requests": 4},
                                      "*": {"requests_per_hour": 1000}}}}]}
            """
        )
        let snapshot = try result.get()
        XCTAssertEqual(snapshot.warnings, [])
        let keys = try XCTUnwrap(snapshot.clientKeys)
        let standard = LimitSet(
            rates: [
                RateLimit(metric: .requests, period: .minute, limit: 600),
                RateLimit(metric: .tokens, period: .minute, limit: 200_000, burst: 50_000),
            ],
            budgets: [BudgetLimit(period: .day, tokens: 5_000_000)],
            concurrentRequests: 16
        )
        XCTAssertEqual(keys.keys[0].limits, KeyLimits(tier: "standard", key: standard))
        let teamB = try XCTUnwrap(keys.keys[1].limits)
        XCTAssertEqual(teamB.tier, "standard")
        XCTAssertEqual(teamB.group, "research")
        XCTAssertEqual(teamB.key.concurrentRequests, 8, "the key's own number wins over the tier's")
        XCTAssertEqual(teamB.key.rate(.requests, per: .second), RateLimit(metric: .requests, period: .second, limit: 20, burst: 40))
        XCTAssertEqual(teamB.key.rate(.tokens, per: .minute)?.burst, 50_000, "the tier's burst stays with its rate")
        XCTAssertEqual(teamB.key.budget(.day)?.tokens, 5_000_000)
        XCTAssertEqual(teamB.models.map(\.pattern.text), ["gpt-4o*", "*"])
        XCTAssertEqual(teamB.modelLimits(for: "openai-gpt-4o")?.pattern.text, "*", "patterns match the model id")
        XCTAssertEqual(teamB.modelLimits(for: "gpt-4o-mini")?.pattern.text, "gpt-4o*", "the first match wins")
        XCTAssertEqual(keys.groups, [
            LimitGroup(name: "research", limits: LimitSet(budgets: [BudgetLimit(period: .month, tokens: 900_000_000)],
                                                          concurrentRequests: 96)),
        ])
        XCTAssertEqual(keys.keys[0].limits?.summary,
                       "tier standard: 600 RPM, 200000 TPM (burst 50000), 5000000 tokens/day, 16 concurrent")
        XCTAssertEqual(teamB.summary, "tier standard: 20 RPS (burst 40), 600 RPM, 200000 TPM (burst 50000), "
                       + "5000000 tokens/day, 8 concurrent; group research; gpt-4o*: 100000 TPM, 4 concurrent; "
                       + "*: 1000 RPH")
        XCTAssertEqual(try ConfigSnapshot(encoded: snapshot.encoded()), snapshot, "limits reach the workers")
    }

    func testAKeyOverridingATierRateGetsTheDefaultBurstUnlessItGivesOne() throws {
        let (result, _) = try self.load(
            """
            {"limit_tiers": {"t": {"requests_per_minute": 600, "burst": {"requests_per_minute": 900}}},
             "keys": [{"name": "a", "sha256": "\(hashA)", "models": ["*"], "limits": {"tier": "t", "requests_per_minute": 60}}]}
            """
        )
        let rate = try XCTUnwrap(result.get().clientKeys?.keys[0].limits?.key.rate(.requests, per: .minute))
        XCTAssertEqual(rate, RateLimit(metric: .requests, period: .minute, limit: 60, burst: 60))
    }

    func testEveryLimitErrorNamesItsKeyPath() throws {
        let errors = try self.errors(
            """
            {"limit_tiers": {"t": {"requests_per_minute": 0, "tokens_per_minute": 1.5, "tokens_per_day": "x",
                                   "concurrent_requests": 70000, "tokens_per_week": 2e12, "rpm": 5,
                                   "burst": {"tokens_per_hour": 10, "requests_per_day": 1}},
                             "u": 3},
             "limit_groups": {"g": {"tier": "t"}},
             "keys": [
               {"name": "a", "sha256": "\(hashA)", "models": ["*"], "limits": "gold"},
               {"name": "b", "sha256": "\(hashB)", "models": ["*"],
                "limits": {"tier": 1, "group": "nope", "burst": {"requests_per_second": 3},
                           "models": {"gpt-*": {"requests_per_minute": -1}, "x": 2}}},
               {"name": "c", "sha256": "\(ClientKeysTests.hashA.replacingOccurrences(of: "3f", with: "4f"))",
                "models": ["*"], "limits": 5}
            ]}
            """
        )
        XCTAssertEqual(errors, [
            "KEYS: limit_tiers.t.requests_per_minute: must be a positive integer",
            "KEYS: limit_tiers.t.tokens_per_minute: must be a positive integer",
            "KEYS: limit_tiers.t.tokens_per_day: must be a positive integer, found a string",
            "KEYS: limit_tiers.t.concurrent_requests: must be at most 65535",
            "KEYS: limit_tiers.t.tokens_per_week: must be at most 1000000000000",
            "KEYS: limit_tiers.t.rpm: unknown member (known: concurrent_requests, requests_per_hour, "
                + "requests_per_minute, requests_per_second, tokens_per_day, tokens_per_hour, tokens_per_minute, "
                + "tokens_per_month, tokens_per_second, tokens_per_week, burst)",
            "KEYS: limit_tiers.t.burst.requests_per_day: not a rate (one of: requests_per_hour, requests_per_minute, "
                + "requests_per_second, tokens_per_hour, tokens_per_minute, tokens_per_second)",
            "KEYS: limit_tiers.t.burst.tokens_per_hour: a burst for tokens_per_hour, but no tokens_per_hour limit is set",
            "KEYS: limit_tiers.u: expected an object of limits, found a number",
            "KEYS: limit_groups.g.tier: unknown member (known: concurrent_requests, requests_per_hour, "
                + "requests_per_minute, requests_per_second, tokens_per_day, tokens_per_hour, tokens_per_minute, "
                + "tokens_per_month, tokens_per_second, tokens_per_week, burst)",
            #"KEYS: keys[0].limits: unknown tier "gold" (limit_tiers has: t)"#,
            "KEYS: keys[1].limits.tier: expected a tier name, found a number",
            #"KEYS: keys[1].limits.group: unknown group "nope" (limit_groups has: g)"#,
            "KEYS: keys[1].limits.burst.requests_per_second: a burst for requests_per_second, but no "
                + "requests_per_second limit is set",
            "KEYS: keys[1].limits.models.gpt-*.requests_per_minute: must be a positive integer",
            "KEYS: keys[1].limits.models.x: expected an object of limits, found a number",
            "KEYS: keys[2].limits: expected a tier name or an object of limits, found a number",
        ])
    }

    func testLimitsWithoutKeysAndUnusedGroupsAreWarnings() throws {
        XCTAssertEqual(
            try self.warnings(#"{"limit_tiers": {"t": {"requests_per_minute": 1}}, "limit_groups": {}, "keys": []}"#),
            [
                "KEYS: keys: no keys: every request that needs a key will be refused",
                "KEYS: limit_tiers: limits apply to client keys, and there are none",
                "KEYS: limit_groups: limits apply to client keys, and there are none",
            ]
        )
        XCTAssertEqual(
            try self.warnings(
                """
                {"limit_groups": {"g": {"tokens_per_day": 10}},
                 "keys": [{"name": "a", "sha256": "\(hashA)", "models": ["*"], "limits": {"requests_per_minute": 5}}]}
                """
            ),
            ["KEYS: limit_groups.g: no key is a member of this group"]
        )
    }

    func testChangingANumberChangesTheDigest() throws {
        let directory = try self.makeConfigDirectory(["models.json": ClientKeysTests.models])
        func digest(_ rpm: Int) throws -> String {
            let path = try directory.write(
                "secrets/clients.json",
                #"{"keys": [{"name": "a", "sha256": "\#(hashA)", "models": ["*"], "limits": {"requests_per_minute": \#(rpm)}}]}"#
            )
            return try self.load(directory, environment: ["FOAP_CLIENT_KEYS": path]).get().sourceDigest
        }
        let first = try digest(60)
        XCTAssertEqual(try digest(60), first)
        XCTAssertNotEqual(try digest(61), first)
    }
}
