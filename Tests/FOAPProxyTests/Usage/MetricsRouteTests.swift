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
}
