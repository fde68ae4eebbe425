import AsyncHTTPClient
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import XCTest

/// Pools end to end: a real proxy in front of several mock upstreams (one refusing, one with a silent head, one
/// good, and scripted ones). Every assertion counts requests; waits poll state, never time.
final class PoolFailoverTests: XCTestCase {
    static let refusing = "http://127.0.0.1:9"
    static let chat = #"{"model":"pool","messages":[]}"#

    /// An upstream besides the harness's own, stopped at teardown.
    func makeUpstream(_ respond: @escaping @Sendable (MockUpstream.Request) -> MockUpstream.Response) throws
        -> MockUpstream
    {
        let upstream = try MockUpstream(respond: respond)
        self.addTeardownBlock { try? upstream.stop() }
        return upstream
    }

    /// A proxy whose model `pool` is served by `upstreams` (`base` = the harness's own mock, the good one) with
    /// `settings` (extra JSON members of the endpoint).
    func makeHarness(
        upstreams: @escaping @Sendable (_ good: String) -> [String],
        settings: String = "",
        good: @escaping @Sendable (MockUpstream.Request) -> MockUpstream.Response = { _ in
            .json(#"{"id":"good"}"#)
        }
    ) async throws -> ProxyHarness {
        let harness = try await ProxyHarness(
            config: { base in
                let list = upstreams(base).map { entry in
                    entry.hasPrefix("{") ? entry : #"{"target_base_url":"\#(entry)"}"#
                }
                return """
                    { "fleet": { "request_timeout": 5,
                        "models": { "pool": { "endpoints": [ { "path": "v1/chat/completions",
                            "target_model_name": "pool-up", \(settings) "upstreams": [\(list.joined(separator: ","))] } ] } } } }
                    """
            },
            respond: good
        )
        self.addTeardownBlock { try await harness.stop() }
        return harness
    }

    func poolHealth(_ harness: ProxyHarness) async throws -> [[String: Any]] {
        let health = try await harness.send(.GET, "/health/pool")
        let object = try JSONSerialization.jsonObject(with: Data(health.body.utf8)) as? [String: Any]
        return object?["upstreams"] as? [[String: Any]] ?? []
    }

    func testRefusedThenSilentUpstreamFailOverToTheGoodOneBeforeAnyByte() async throws {
        let silent = try self.makeUpstream { _ in .hang }
        let harness = try await self.makeHarness(
            upstreams: { [Self.refusing, silent.baseURL, $0] },
            settings: #""strategy": "ordered", "first_byte_timeout": 0.3,"#
        )
        let response = try await harness.send(.POST, "/v1/chat/completions", json: Self.chat)
        XCTAssertEqual(response.status, 200, response.body)
        XCTAssertEqual(response.body, #"{"id":"good"}"#)
        XCTAssertEqual(silent.requests.count, 1)
        XCTAssertEqual(harness.upstream.requests.count, 1)
        XCTAssertTrue(harness.upstream.requests[0].bodyString.contains(#""model":"pool-up""#))
        let record = try await harness.accessRecords(atLeast: 1)[0]
        XCTAssertEqual(record["attempts"], "3")
        XCTAssertEqual(record["upstream"], harness.upstream.baseURL)
        XCTAssertEqual(
            record["attempt_errors"],
            "\(Self.refusing) upstream_unreachable, \(silent.baseURL) upstream_timeout"
        )
    }

    /// Each attempt has its own deadline: the second silent upstream times out as the first did, though its deadline
    /// is later than the one the connection's timer was last set for (the exchange only asks for earlier ones).
    func testEveryAttemptOfAPoolTimesOutOnItsOwnDeadline() async throws {
        let first = try self.makeUpstream { _ in .hang }
        let second = try self.makeUpstream { _ in .hang }
        let harness = try await self.makeHarness(
            upstreams: { _ in [first.baseURL, second.baseURL] },
            settings: #""strategy": "ordered", "first_byte_timeout": 0.3,"#
        )
        let response = try await harness.send(.POST, "/v1/chat/completions", json: Self.chat)
        XCTAssertEqual(response.status, 504, response.body)
        XCTAssertEqual(first.requests.count, 1)
        XCTAssertEqual(second.requests.count, 1)
        let record = try await harness.accessRecords(atLeast: 1)[0]
        XCTAssertEqual(record["attempts"], "2")
        XCTAssertEqual(record["attempt_errors"], "\(first.baseURL) upstream_timeout, \(second.baseURL) upstream_timeout")
    }

    func testNoRetryOnceTheStreamStarted() async throws {
        let cutting = try self.makeUpstream { _ in .cutAfter(chunks: ["data: {\"n\":1}\n\n"]) }
        let harness = try await self.makeHarness(
            upstreams: { [cutting.baseURL, $0] },
            settings: #""strategy": "ordered","#
        )
        let stream = try await harness.streamUntilCut(model: "pool")
        XCTAssertEqual(stream.status, 200)
        XCTAssertTrue(stream.cut, "a cut stream must not look complete to the client, nor be completed elsewhere")
        XCTAssertEqual(stream.received, "data: {\"n\":1}\n\n")
        XCTAssertEqual(harness.upstream.requests.count, 0, "a started answer is never replayed elsewhere")
        let record = try await harness.accessRecords(atLeast: 1)[0]
        XCTAssertEqual(record["error"], "stream_cut")
        XCTAssertEqual(record["attempts"], "1")
    }

    func testRateLimitedUpstreamIsSkippedForItsRetryAfter() async throws {
        let limited = try self.makeUpstream { _ in
            .json(#"{"error":{"message":"slow down"}}"#, status: .tooManyRequests, headers: [("Retry-After", "60")])
        }
        let harness = try await self.makeHarness(
            upstreams: { [limited.baseURL, $0] },
            settings: #""strategy": "ordered","#
        )
        for _ in 0..<3 {
            let response = try await harness.send(.POST, "/v1/chat/completions", json: Self.chat)
            XCTAssertEqual(response.status, 200)
        }
        XCTAssertEqual(limited.requests.count, 1, "asked once, then skipped while its retry-after runs")
        XCTAssertEqual(harness.upstream.requests.count, 3)
        let states = try await self.poolHealth(harness)
        XCTAssertEqual(states.first?["pool_state"] as? String, "rate_limited")
    }

    func testFailingUpstreamCoolsDownThenOneProbeBringsItBack() async throws {
        let healthy = NIOLockedValueBox(false)
        let flaky = try self.makeUpstream { _ in
            healthy.withLockedValue { $0 } ? .json(#"{"id":"flaky"}"#) : .json("{}", status: .serviceUnavailable)
        }
        let harness = try await self.makeHarness(
            upstreams: { [flaky.baseURL, $0] },
            settings: #""strategy": "ordered", "max_fails": 2, "cooldown": 0.2,"#
        )
        for _ in 0..<5 {
            let response = try await harness.send(.POST, "/v1/chat/completions", json: Self.chat)
            XCTAssertEqual(response.body, #"{"id":"good"}"#, "every 503 fails over")
        }
        XCTAssertEqual(flaky.requests.count, 2, "cooled down after max_fails failures in a row")
        healthy.withLockedValue { $0 = true }
        let deadline = Date().addingTimeInterval(10)
        while try await self.poolHealth(harness).first?["pool_state"] as? String != "awaiting_probe" {
            guard Date() < deadline else { return XCTFail("the cooldown never ended") }
            try await Task.sleep(nanoseconds: 20_000_000)
        }
        let probe = try await harness.send(.POST, "/v1/chat/completions", json: Self.chat)
        XCTAssertEqual(probe.body, #"{"id":"flaky"}"#, "the probe is a real request")
        let after = try await harness.send(.POST, "/v1/chat/completions", json: Self.chat)
        XCTAssertEqual(after.body, #"{"id":"flaky"}"#, "recovered: the primary again")
        let recovered = try await self.poolHealth(harness)
        XCTAssertEqual(recovered.first?["pool_state"] as? String, "healthy")
    }

    func testUpstreamWithoutItsKeyIsSkippedForOneThatHasIt() async throws {
        let unkeyed = try self.makeUpstream { _ in .json(#"{"id":"unkeyed"}"#) }
        let harness = try await self.makeHarness(
            upstreams: { [#"{"target_base_url":"\#(unkeyed.baseURL)","api_key_variable":"ABSENT_KEY"}"#, $0] },
            settings: #""strategy": "ordered","#
        )
        let response = try await harness.send(.POST, "/v1/chat/completions", json: Self.chat)
        XCTAssertEqual(response.body, #"{"id":"good"}"#)
        XCTAssertEqual(unkeyed.requests.count, 0, "never reached without its key")
        let record = try await harness.accessRecords(atLeast: 1)[0]
        XCTAssertEqual(record["attempt_errors"], "\(unkeyed.baseURL) upstream_key_missing")
    }

    func testWeightsSpreadRequestsExactly() async throws {
        let light = try self.makeUpstream { _ in .json(#"{"id":"light"}"#) }
        let harness = try await self.makeHarness(
            upstreams: { [#"{"target_base_url":"\#($0)","weight":3}"#, light.baseURL] },
            settings: #""strategy": "weighted","#
        )
        for _ in 0..<40 {
            _ = try await harness.send(.POST, "/v1/chat/completions", json: Self.chat)
        }
        XCTAssertEqual(harness.upstream.requests.count, 30)
        XCTAssertEqual(light.requests.count, 10)
    }

    func testEveryUpstreamDownIs503NoHealthyUpstream() async throws {
        let harness = try await self.makeHarness(
            upstreams: { _ in [Self.refusing, "http://127.0.0.1:7"] },
            settings: #""max_fails": 1,"#
        )
        let first = try await harness.send(.POST, "/v1/chat/completions", json: Self.chat)
        XCTAssertEqual(first.status, 502, "both tried: the last failure is the answer")
        XCTAssertTrue(first.body.contains("upstream_unreachable"), first.body)
        let second = try await harness.send(.POST, "/v1/chat/completions", json: Self.chat)
        XCTAssertEqual(second.status, 503)
        XCTAssertTrue(second.body.contains(#""code":"no_healthy_upstream""#), second.body)
        let states = try await self.poolHealth(harness)
        XCTAssertEqual(states.compactMap { $0["pool_state"] as? String }, ["cooling_down", "cooling_down"])
    }

    func testClientErrorsPassThroughAndTheLastRetryableAnswerIsRelayed() async throws {
        let rejecting = try self.makeUpstream { _ in .json(#"{"error":{"message":"bad"}}"#, status: .badRequest) }
        let harness = try await self.makeHarness(
            upstreams: { [rejecting.baseURL, $0] },
            settings: #""strategy": "ordered","#,
            good: { _ in .json(#"{"error":{"message":"overloaded"}}"#, status: .serviceUnavailable) }
        )
        let rejected = try await harness.send(.POST, "/v1/chat/completions", json: Self.chat)
        XCTAssertEqual(rejected.status, 400)
        XCTAssertEqual(harness.upstream.requests.count, 0, "a 400 is the client's problem: no retry")

        let secondHarness = try await self.makeHarness(
            upstreams: { [$0, Self.refusing] },
            settings: #""strategy": "ordered", "retries": 0,"#,
            good: { _ in .json(#"{"error":{"message":"overloaded"}}"#, status: .serviceUnavailable) }
        )
        let overloaded = try await secondHarness.send(.POST, "/v1/chat/completions", json: Self.chat)
        XCTAssertEqual(overloaded.status, 503, "retries 0: the upstream's own answer")
        XCTAssertTrue(overloaded.body.contains("overloaded"))
    }

    /// HTTPS upstreams go through AsyncHTTPClient, which reports a cancelled attempt later, asynchronously: the
    /// abandoned attempt's callbacks must not reach the exchange that moved on.
    func testFailoverBetweenHTTPSUpstreams() async throws {
        let overloaded = try MockUpstream(tls: true) { _ in .json("{}", status: .serviceUnavailable) }
        self.addTeardownBlock { try? overloaded.stop() }
        let harness = try await ProxyHarness(
            tls: true,
            config: { base in
                """
                { "fleet": { "models": { "pool": { "endpoints": [ { "path": "v1/chat/completions",
                    "target_model_name": "pool-up", "strategy": "round_robin", "max_fails": 100,
                    "upstreams": [ { "target_base_url": "\(overloaded.baseURL)" }, { "target_base_url": "\(base)" } ] } ] } } } }
                """
            },
            respond: { _ in .json(#"{"id":"good"}"#) }
        )
        self.addTeardownBlock { try await harness.stop() }
        for _ in 0..<10 {
            let response = try await harness.send(.POST, "/v1/chat/completions", json: Self.chat)
            XCTAssertEqual(response.status, 200)
            XCTAssertEqual(response.body, #"{"id":"good"}"#)
        }
        XCTAssertEqual(harness.upstream.requests.count, 10)
        XCTAssertEqual(overloaded.requests.count, 5, "round robin: every other request starts there and fails over")
        let records = try await harness.accessRecords(atLeast: 10)
        XCTAssertEqual(records.filter { $0["attempts"] == "2" }.count, 5)
    }
}
