import Foundation
import XCTest

/// `GET /metrics` in a process of its own (`--workers 0`): this process's series, behind the client key check.
final class MetricsRouteTests: XCTestCase {
    func testSingleProcessServesItsOwnSeriesWithTokensAndErrors() async throws {
        let harness = try await ProxyHarness { request in
            request.bodyString.contains("slow") ? .hang : .json(TokenUsageScannerTests.openAIChat)
        }
        self.addTeardownBlock { try await harness.stop() }
        for _ in 0..<3 {
            _ = try await harness.send(.POST, "/v1/chat/completions", json: #"{"model":"gpt-test"}"#)
        }
        _ = try await harness.send(.POST, "/v1/chat/completions", json: #"{"model":"slow-test"}"#)
        let scrape = try await harness.send(.GET, "/metrics")
        XCTAssertEqual(scrape.status, 200)
        XCTAssertEqual(scrape.headers.first(name: "content-type"), "text/plain; version=0.0.4; charset=utf-8")
        let text = scrape.body
        let upstream = harness.upstream.baseURL
        XCTAssertTrue(text.contains(
            #"foap_requests_total{gen_ai_request_model="gpt-test",http_route="v1/chat/completions",server_address="\#(upstream)",status_class="2xx"} 3"#
        ), text)
        XCTAssertTrue(text.contains(#"status_class="5xx"} 1"#), text)
        XCTAssertTrue(text.contains(#"foap_upstream_errors_total{server_address="\#(upstream)",error_type="timeout"} 1"#), text)
        XCTAssertTrue(text.contains(#"foap_tokens_total{gen_ai_request_model="gpt-test",key_name="-",gen_ai_token_type="prompt"} 57"#), text)
        XCTAssertTrue(text.contains(#"foap_tokens_total{gen_ai_request_model="gpt-test",key_name="-",gen_ai_token_type="total"} 87"#), text)
        XCTAssertTrue(text.contains(#"foap_request_duration_seconds_bucket{gen_ai_request_model="gpt-test",http_route="v1/chat/completions",le="+Inf"} 3"#), text)
        XCTAssertTrue(text.contains("# TYPE foap_time_to_first_byte_seconds histogram\n"), text)
    }

    func testOpenMetricsWhenAsked() async throws {
        let harness = try await ProxyHarness { _ in .json("{}") }
        self.addTeardownBlock { try await harness.stop() }
        _ = try await harness.send(.POST, "/v1/chat/completions", json: #"{"model":"gpt-test"}"#)
        let scrape = try await harness.send(
            .GET, "/metrics", headers: [("Accept", "application/openmetrics-text;version=1.0.0,text/plain;q=0.5")]
        )
        XCTAssertEqual(scrape.headers.first(name: "content-type"), "application/openmetrics-text; version=1.0.0; charset=utf-8")
        XCTAssertTrue(scrape.body.hasSuffix("# EOF\n"))
        XCTAssertTrue(scrape.body.contains("# TYPE foap_requests counter\n"), scrape.body)
        XCTAssertTrue(scrape.body.contains("\nfoap_requests_total{"), scrape.body)
        XCTAssertTrue(scrape.body.contains("# TYPE foap_request_duration_seconds histogram\n"))
    }

    /// A master that cannot be asked, or does not answer in time: the scrape gets a clear 503, the worker goes on.
    func testScrapeTheMasterDoesNotAnswerIs503() async throws {
        let silent = try await ProxyHarness(
            configure: { $0.metricsTimeout = .milliseconds(50) },
            metricsSource: { _ in },
            respond: { _ in .json("{}") }
        )
        self.addTeardownBlock { try await silent.stop() }
        let late = try await silent.send(.GET, "/metrics")
        XCTAssertEqual(late.status, 503)
        XCTAssertTrue(late.body.contains(#""code":"metrics_unavailable""#), late.body)
        let health = try await silent.send(.GET, "/health")
        XCTAssertEqual(health.status, 200)

        let gone = try await ProxyHarness(metricsSource: { reply in reply(nil) }, respond: { _ in .json("{}") })
        self.addTeardownBlock { try await gone.stop() }
        let refused = try await gone.send(.GET, "/metrics")
        XCTAssertEqual(refused.status, 503)
        XCTAssertTrue(refused.body.contains(#""code":"metrics_unavailable""#), refused.body)
    }

    func testMetricsNeedAClientKeyWhenKeysAreConfigured() async throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("foap-keys-\(UUID().uuidString).json")
        try ClientKeysEndToEndTests.keyFile().write(to: file, atomically: true, encoding: .utf8)
        let harness = try await ProxyHarness(
            environment: ["MOCK_KEY": "sk-upstream-secret", "FOAP_CLIENT_KEYS": file.path],
            respond: { _ in .json("{}") }
        )
        self.addTeardownBlock {
            try await harness.stop()
            try? FileManager.default.removeItem(at: file)
        }
        let anonymous = try await harness.send(.GET, "/metrics")
        XCTAssertEqual(anonymous.status, 401)
        let scraper = try await harness.send(
            .GET, "/metrics", headers: [("Authorization", "Bearer \(ClientKeysEndToEndTests.teamKey)")]
        )
        XCTAssertEqual(scraper.status, 200)
        XCTAssertTrue(scraper.body.contains("# TYPE foap_requests_total counter"))
    }
}
