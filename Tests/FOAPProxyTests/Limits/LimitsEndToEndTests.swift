import AsyncHTTPClient
import FOAPConfig
import FOAPLimits
import FOAPProxy
import Foundation
import NIOCore
import NIOHTTP1
import XCTest

/// Per-key limits through a real proxy in one process (one worker's view of the shared region): what clients see —
/// OpenAI's 429 bodies and headers, `x-ratelimit-*` on every answer — and that tokens are reserved and settled.
final class LimitsEndToEndTests: XCTestCase {
    static let key = "sk-foap-limited-0123456789"
    static let free = "sk-foap-free-9876543210"

    /// A proxy whose key `team` has `limits` (JSON of its `limits` member) and whose key `free` has none.
    private func makeHarness(
        limits: String, groups: String = "",
        failover: Bool = false,
        respond: @escaping @Sendable (MockUpstream.Request) -> MockUpstream.Response = { _ in
            .json(#"{"id":"c","usage":{"prompt_tokens":3,"completion_tokens":2}}"#,
                  headers: [("x-ratelimit-limit-requests", "10000")])
        }
    ) async throws -> ProxyHarness {
        func hash(_ key: String) -> String { ClientKeyDigest(hashing: key.utf8).hex }
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("foap-limits-\(UUID()).json")
        try """
            {\(groups)"keys": [
              {"name": "team", "sha256": "\(hash(Self.key))", "models": ["*"], "limits": \(limits)},
              {"name": "free", "sha256": "\(hash(Self.free))", "models": ["*"]}]}
            """.write(to: file, atomically: true, encoding: .utf8)
        let region = try LimitsRegion(path: nil, now: LimitsClock.now())
        let harness = try await ProxyHarness(
            config: failover ? Self.failoverConfig : ProxyHarness.defaultConfig,
            environment: ["MOCK_KEY": "sk-upstream-secret", "FOAP_CLIENT_KEYS": file.path],
            limitsRegion: region, respond: respond)
        self.addTeardownBlock {
            try await harness.stop()
            try? FileManager.default.removeItem(at: file)
        }
        return harness
    }

    private func chat(_ harness: ProxyHarness, key: String = LimitsEndToEndTests.key, body: String? = nil) async throws
        -> (status: UInt, headers: HTTPHeaders, body: String, bytes: ByteBuffer)
    {
        try await harness.send(
            .POST, "/v1/chat/completions", json: body ?? #"{"model":"gpt-test","max_tokens":10}"#,
            headers: [("Authorization", "Bearer \(key)")])
    }

    private static func error(_ body: String) -> [String: Any] {
        let object = try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any]
        return object?["error"] as? [String: Any] ?? [:]
    }

    func testRequestsPerMinuteAdmitsExactlyTheLimitThenAnswers429TheOpenAIWay() async throws {
        let harness = try await self.makeHarness(limits: #"{"requests_per_minute": 3}"#)
        for expectedRemaining in [2, 1, 0] {
            let response = try await self.chat(harness)
            XCTAssertEqual(response.status, 200)
            XCTAssertEqual(response.headers.first(name: "x-ratelimit-limit-requests"), "3", "replaces the upstream's")
            XCTAssertEqual(response.headers.first(name: "x-ratelimit-remaining-requests"), String(expectedRemaining))
            XCTAssertNotNil(response.headers.first(name: "x-ratelimit-reset-requests"))
        }
        let refused = try await self.chat(harness)
        XCTAssertEqual(refused.status, 429)
        let error = Self.error(refused.body)
        XCTAssertEqual(error["code"] as? String, "rate_limit_exceeded")
        XCTAssertEqual(error["type"] as? String, "requests")
        let message = error["message"] as? String ?? ""
        XCTAssertTrue(message.hasPrefix("Rate limit reached for gpt-test for key 'team'"), message)
        XCTAssertTrue(message.contains("requests per min (RPM)"), message)
        XCTAssertTrue(message.contains("Please try again in"), message)
        let retryAfter = try XCTUnwrap(refused.headers.first(name: "retry-after").flatMap(Int.init))
        XCTAssertTrue((1...20).contains(retryAfter), "\(retryAfter)")
        XCTAssertNotNil(refused.headers.first(name: "retry-after-ms").flatMap(Int.init))
        XCTAssertEqual(refused.headers.first(name: "x-ratelimit-limit-requests"), "3")
        XCTAssertEqual(refused.headers.first(name: "x-ratelimit-remaining-requests"), "0")
        XCTAssertNotNil(refused.headers.first(name: "x-ratelimit-reset-requests"))
        XCTAssertEqual(harness.upstream.requests.count, 3, "a refused request never goes upstream")
        // Another key is not limited by this one.
        let other = try await self.chat(harness, key: Self.free)
        XCTAssertEqual(other.status, 200)
        XCTAssertEqual(other.headers.first(name: "x-ratelimit-limit-requests"), "10000", "unlimited: upstream's kept")
        let records = try await harness.accessRecords(atLeast: 5)
        XCTAssertEqual(records.filter { $0["status"] == "429" }.first?["limited_by"], "requests per min (RPM), key team")
    }

    func testADeclaredOutputThatCanNeverFitIsRefusedForGood() async throws {
        let harness = try await self.makeHarness(limits: #"{"tokens_per_minute": 100}"#)
        let refused = try await self.chat(harness, body: #"{"model":"gpt-test","max_tokens":500}"#)
        XCTAssertEqual(refused.status, 429)
        XCTAssertEqual(refused.headers.first(name: "x-should-retry"), "false")
        XCTAssertEqual(Self.error(refused.body)["type"] as? String, "tokens")
        XCTAssertTrue(harness.upstream.requests.isEmpty)
        // The same bound as the upstream's server reads it (pydantic takes each of these as 500, or 2 × 300).
        for spelling in [#""max_tokens":500.0"#, #""max_tokens":5e2"#, #""max_tokens":" 500""#,
                         #""max_completion_tokens":499.5"#, #""max_tokens":30,"n":"2.0","max_output_tokens":300"#] {
            let body = #"{"model":"gpt-test",\#(spelling)}"#
            let alike = try await self.chat(harness, body: body)
            XCTAssertEqual(alike.status, 429, body)
            XCTAssertEqual(alike.headers.first(name: "x-should-retry"), "false", body)
        }
        XCTAssertTrue(harness.upstream.requests.isEmpty)
        let fits = try await self.chat(harness, body: #"{"model":"gpt-test","max_tokens":20}"#)
        XCTAssertEqual(fits.status, 200, "the refusal took nothing")
        XCTAssertEqual(fits.headers.first(name: "x-ratelimit-limit-tokens"), "100")
    }

    func testAnExhaustedDayBudgetIsInsufficientQuotaWithItsResetTime() async throws {
        let harness = try await self.makeHarness(limits: #"{"tokens_per_day": 60}"#) { _ in
            .json(#"{"id":"c","usage":{"prompt_tokens":30,"completion_tokens":30}}"#)
        }
        let first = try await self.chat(harness)
        XCTAssertEqual(first.status, 200)
        let refused = try await self.chat(harness)
        XCTAssertEqual(refused.status, 429)
        let error = Self.error(refused.body)
        XCTAssertEqual(error["code"] as? String, "insufficient_quota")
        XCTAssertTrue((error["message"] as? String ?? "").contains("T00:00:00Z"), refused.body)
    }

    /// Tokens are reserved from the estimate and settled from the answer's usage: the unused rest comes back.
    func testTheReservationIsSettledWithTheAnswersUsage() async throws {
        let harness = try await self.makeHarness(limits: #"{"tokens_per_minute": 1000}"#)
        let response = try await self.chat(harness, body: #"{"model":"gpt-test","max_tokens":400}"#)
        XCTAssertEqual(response.status, 200)
        let records = try await harness.accessRecords(atLeast: 1)
        let estimated = try XCTUnwrap(records[0]["tokens_estimated"].flatMap(Int.init))
        XCTAssertGreaterThanOrEqual(estimated, 400)
        let text = try XCTUnwrap(harness.engine.metrics.render())
        XCTAssertTrue(text.contains(#"foap_ratelimit_tokens_total{key_name="team",stage="reserved"} \#(estimated)"#), text)
        XCTAssertTrue(text.contains(#"foap_ratelimit_tokens_total{key_name="team",stage="refunded"} \#(estimated - 5)"#), text)
        // What was refunded is available again: 1000 - 5 used.
        let next = try await self.chat(harness, body: #"{"model":"gpt-test","max_tokens":900}"#)
        XCTAssertEqual(next.status, 200, next.body)
    }

    /// `concurrent_requests: 1`: a held stream takes the slot; the next request waits for it to end.
    func testConcurrencyIsHeldForAStreamAndGivenBackWhenItEnds() async throws {
        let gate = ChunkGate()
        let harness = try await self.makeHarness(limits: #"{"concurrent_requests": 1}"#) { request in
            request.bodyString.contains("\"stream\":true")
                ? .gated(events: ["{\"n\":1}", "[DONE]"], gate: gate) : .json(#"{"id":"c"}"#)
        }
        var request = HTTPClientRequest(url: harness.baseURL + "/v1/chat/completions")
        request.method = .POST
        request.body = .bytes(ByteBuffer(string: #"{"model":"gpt-test","stream":true}"#))
        request.headers.add(name: "Authorization", value: "Bearer \(Self.key)")
        let stream = try await harness.client.execute(request, timeout: .seconds(10))
        XCTAssertEqual(stream.status.code, 200)
        XCTAssertEqual(stream.headers.first(name: "x-ratelimit-limit-requests"), nil, "no request rate configured")
        let refused = try await self.chat(harness)
        XCTAssertEqual(refused.status, 429)
        XCTAssertEqual(Self.error(refused.body)["type"] as? String, "requests")
        gate.open(1)
        _ = try await stream.body.collect(upTo: 1 << 20)
        var after: UInt = 0
        for _ in 0..<100 where after != 200 {
            after = try await self.chat(harness).status
            if after != 200 { try await Task.sleep(nanoseconds: 10_000_000) }
        }
        XCTAssertEqual(after, 200, "the slot came back when the stream ended")
    }

    /// A group's budget is shared by its keys, and a model pattern's limit applies to its models only.
    func testModelPatternLimitsApplyOnlyToTheirModels() async throws {
        let harness = try await self.makeHarness(
            limits: #"{"models": {"gpt-*": {"requests_per_minute": 1}}}"#)
        let first = try await self.chat(harness)
        XCTAssertEqual(first.status, 200)
        let second = try await self.chat(harness)
        XCTAssertEqual(second.status, 429)
        let llama = try await self.chat(harness, body: #"{"model":"meta-llama/Llama-3.1-8B"}"#)
        XCTAssertEqual(llama.status, 200, "another model is not limited by gpt-*")
    }

    /// `gpt-test` on a pool whose first upstream refuses connections and whose second is the mock.
    private static func failoverConfig(_ good: String) -> String {
        """
        { "fleet": { "request_timeout": 5, "models": { "gpt-test": { "endpoints": [ {
            "path": "v1/chat/completions", "target_model_name": "up", "strategy": "ordered",
            "upstreams": [{"target_base_url": "http://127.0.0.1:9"}, {"target_base_url": "\(good)"}] } ] } } } }
        """
    }

    /// One admission per client request, never per upstream attempt: a request that fails over from a refusing
    /// upstream to a good one counts once.
    func testAFailoverIsOneAdmission() async throws {
        let harness = try await self.makeHarness(limits: #"{"requests_per_minute": 2}"#, failover: true)
        for _ in 0..<2 {
            let response = try await self.chat(harness)
            XCTAssertEqual(response.status, 200, response.body)
        }
        let refused = try await self.chat(harness)
        XCTAssertEqual(refused.status, 429)
        let records = try await harness.accessRecords(atLeast: 3)
        XCTAssertEqual(records.filter { $0["status"] == "200" }.map { $0["attempts"] }, ["2", "2"], "each failed over")
    }

    /// Calls by id and lists count against the key's requests like any other call: they cannot be used to poll an
    /// upstream past the key's limit.
    func testCallsByIDAreAdmittedLikeAnyRequest() async throws {
        let harness = try await self.makeHarness(limits: #"{"requests_per_minute": 2}"#)
        let headers = [("Authorization", "Bearer \(Self.key)")]
        for _ in 0..<2 {
            let response = try await harness.send(.GET, "/v1/chat/completions/chatcmpl-1?model=gpt-test", headers: headers)
            XCTAssertEqual(response.status, 200, response.body)
        }
        let refused = try await harness.send(.GET, "/v1/chat/completions/chatcmpl-1?model=gpt-test", headers: headers)
        XCTAssertEqual(refused.status, 429, refused.body)
        XCTAssertEqual(harness.upstream.requests.count, 2, "the refused call never reached the upstream")
    }
}
