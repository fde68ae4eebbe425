import AsyncHTTPClient
import Foundation
import NIOCore
import XCTest

/// `GET /metrics` through the real master and three workers: the sum over every worker, across a reload.
final class MetricsServeTests: XCTestCase {
    /// The value of one series in a scrape (the sum of every line that starts with `prefix`).
    static func total(_ text: String, _ prefix: String) -> Double {
        text.split(separator: "\n").filter { $0.hasPrefix(prefix) }
            .compactMap { $0.split(separator: " ").last.flatMap { Double($0) } }.reduce(0, +)
    }

    static func scrape(_ foap: FoapProcess) async throws -> String {
        let request = ProxyClient.request(foap.baseURL + "/metrics", fresh: true)
        let response = try await ProxyClient.shared.client.execute(request, timeout: .seconds(10))
        let body = try await response.body.collect(upTo: 1 << 22)
        guard response.status == .ok else { throw UnexpectedResponse(status: response.status.code, body: String(buffer: body)) }
        XCTAssertEqual(response.headers.first(name: "content-type"), "text/plain; version=0.0.4; charset=utf-8")
        return String(buffer: body)
    }

    func testCountersSumEveryWorkerAndNeverGoBackAcrossAReload() async throws {
        let upstream = try self.startUpstream()
        let socketPath = self.controlSocketPath()
        let foap = try await self.startFoap(
            workers: 3,
            files: ["models.json": EndToEndConfig.file(upstream: upstream.baseURL, models: ["chat"])],
            environment: ["FOAP_CONTROL_SOCKET": socketPath]
        )
        let chats = #"foap_requests_total{gen_ai_request_model="chat",http_route="v1/chat/completions""#
        // Fresh connections: the kernel spreads them over the three workers.
        for _ in 0..<30 {
            try await ProxyClient.shared.chat(foap.baseURL, fresh: true)
        }
        var text = ""
        try await foap.waitFor("30 chat requests summed over the workers") {
            text = try await Self.scrape(foap)
            return Self.total(text, chats) == 30
        }
        let servedBy = Set(foap.log.records("worker ready").compactMap { $0["worker_id"] })
        XCTAssertEqual(servedBy.count, 3)
        XCTAssertEqual(Self.total(text, "foap_config_generation"), 1)
        XCTAssertEqual(Self.total(text, "foap_workers_ready"), 3)
        XCTAssertEqual(Self.total(text, #"foap_request_duration_seconds_count{gen_ai_request_model="chat""#), 30)
        XCTAssertGreaterThan(Self.total(text, #"foap_response_bytes_total{gen_ai_request_model="chat""#), 0)

        // A reload replaces every worker; their 30 stay counted, and scrapes answer while it runs.
        let started = try runFoap(["ctl", "--socket", socketPath, "reload"])
        XCTAssertEqual(started.status, 0, started.stderr)
        for _ in 0..<5 {
            text = try await Self.scrape(foap)
            XCTAssertGreaterThanOrEqual(Self.total(text, chats), 30, "a counter never goes back")
        }
        try await foap.waitFor("the reload done") {
            !foap.log.records("reload done", where: ["generation": "2"]).isEmpty
        }
        text = try await Self.scrape(foap)
        XCTAssertGreaterThanOrEqual(Self.total(text, chats), 30, "a counter never goes back")
        for _ in 0..<30 {
            try await ProxyClient.shared.chat(foap.baseURL, fresh: true)
        }
        try await foap.waitFor("60 chat requests after the reload") {
            text = try await Self.scrape(foap)
            return Self.total(text, chats) == 60
        }
        XCTAssertEqual(Self.total(text, "foap_config_generation"), 2)
        XCTAssertEqual(Self.total(text, #"foap_reloads_total{result="ok"}"#), 1)
        // A gauge of the latest reports (0.5 s apart): nothing is in flight but, at most, a scrape.
        XCTAssertTrue(text.contains("\nfoap_requests_in_flight "), text)
        XCTAssertLessThanOrEqual(Self.total(text, "foap_requests_in_flight"), 1)
    }
}
