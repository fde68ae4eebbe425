import NIOCore
import NIOHTTP1
import XCTest

@testable import FOAPProxy

/// The series the last requests counted into are held out of the dictionaries until another series comes or a
/// scrape reads them: what a scrape shows must not depend on when scrapes happen.
final class MetricsRecentSeriesTests: XCTestCase {
    private struct Finished {
        var model: String
        var upstream: String
        var status: UInt
        var keyName: String?
        var tokens: (Int, Int)?
    }

    private static let sequence: [Finished] = [
        Finished(model: "a", upstream: "http://u1", status: 200, keyName: "team-1", tokens: (3, 4)),
        Finished(model: "a", upstream: "http://u1", status: 200, keyName: "team-1", tokens: (1, 1)),
        Finished(model: "a", upstream: "http://u2", status: 502),
        Finished(model: "a", upstream: "http://u1", status: 200, keyName: "team-2", tokens: (5, 0)),
        Finished(model: "b", upstream: "http://u1", status: 429),
        Finished(model: "a", upstream: "http://u1", status: 200, keyName: "team-1", tokens: (2, 2)),
        Finished(model: "b", upstream: "http://u1", status: 200, keyName: "team-1", tokens: (7, 7)),
        Finished(model: "b", upstream: "http://u1", status: 200, keyName: "team-1", tokens: (1, 0)),
        Finished(model: "a", upstream: "http://u2", status: 502),
        Finished(model: "a", upstream: "http://u1", status: 200),
    ]

    private static func record(_ finished: Finished, index: Int) -> AccessRecord {
        let head = HTTPRequestHead(version: .http1_1, method: .POST, uri: "/v1/chat/completions")
        var record = AccessRecord(head: head, route: .forward(path: "v1/chat/completions"), client: "127.0.0.1")
        record.model = finished.model
        record.upstream = finished.upstream
        record.status = finished.status
        record.keyName = finished.keyName
        record.promptTokens = finished.tokens?.0
        record.completionTokens = finished.tokens?.1
        record.bytesIn = 10 * index
        record.bytesOut = 100 * index
        record.finishedAt = record.startedAt + .milliseconds(Int64(index * 7))
        return record
    }

    private static func count(_ metrics: RequestMetrics, renderingAfterEach: Set<Int>) -> String {
        for (index, finished) in Self.sequence.enumerated() {
            metrics.requestStarted()
            metrics.requestFinished(Self.record(finished, index: index), modelIsConfigured: true)
            if renderingAfterEach.contains(index) {
                _ = metrics.render()
            }
        }
        return metrics.render() ?? ""
    }

    func testWhatAScrapeShowsDoesNotDependOnWhenScrapesHappen() {
        let once = Self.count(RequestMetrics(), renderingAfterEach: [])
        XCTAssertEqual(once, Self.count(RequestMetrics(), renderingAfterEach: Set(Self.sequence.indices)))
        XCTAssertEqual(once, Self.count(RequestMetrics(), renderingAfterEach: [1, 4, 5]))
        let lines = once.split(separator: "\n")
        func sample(_ prefix: String) -> String? {
            lines.first { $0.hasPrefix(prefix + " ") }.map { String($0.dropFirst(prefix.count + 1)) }
        }
        let requests = #"foap_requests_total{gen_ai_request_model="a",http_route="v1/chat/completions","#
        XCTAssertEqual(sample(requests + #"server_address="http://u1",status_class="2xx"}"#), "5")
        XCTAssertEqual(sample(requests + #"server_address="http://u2",status_class="5xx"}"#), "2")
        XCTAssertEqual(
            sample(#"foap_tokens_total{gen_ai_request_model="a",key_name="team-1",gen_ai_token_type="prompt"}"#), "6")
        XCTAssertEqual(
            sample(#"foap_tokens_total{gen_ai_request_model="b",key_name="team-1",gen_ai_token_type="completion"}"#), "7")
        XCTAssertEqual(
            sample(#"foap_request_bytes_total{gen_ai_request_model="b",http_route="v1/chat/completions"}"#), "170")
    }
}
