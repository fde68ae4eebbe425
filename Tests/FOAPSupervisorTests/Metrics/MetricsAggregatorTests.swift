import FOAPWorkerChannel
import XCTest

@testable import FOAPSupervisor

/// The master's sum of worker reports: counters survive the workers that counted them, gauges do not.
final class MetricsAggregatorTests: XCTestCase {
    func report(requests: Int, inFlight: Int, model: String = "m") -> Substring {
        """
        # HELP foap_requests_total Requests.
        # TYPE foap_requests_total counter
        foap_requests_total{gen_ai_request_model="\(model)"} \(requests)
        # HELP foap_requests_in_flight Now.
        # TYPE foap_requests_in_flight gauge
        foap_requests_in_flight \(inFlight)

        """[...]
    }

    func value(_ text: String, _ series: String) -> Double? {
        text.split(separator: "\n").first { $0.hasPrefix(series + " ") }.flatMap { Double($0.split(separator: " ").last!) }
    }

    func testSumsLiveWorkersAndKeepsCountersOfRetiredOnes() {
        var aggregator = MetricsAggregator()
        let one = WorkerID(rawValue: 1)
        let two = WorkerID(rawValue: 2)
        aggregator.update(one, report: self.report(requests: 5, inFlight: 2))
        aggregator.update(two, report: self.report(requests: 7, inFlight: 1))
        var text = aggregator.render()
        XCTAssertEqual(self.value(text, #"foap_requests_total{gen_ai_request_model="m"}"#), 12)
        XCTAssertEqual(self.value(text, "foap_requests_in_flight"), 3)
        XCTAssertTrue(text.hasPrefix("# HELP foap_requests_total Requests.\n# TYPE foap_requests_total counter\n"))

        // A later report replaces the worker's values (they are cumulative), it does not add to them.
        aggregator.update(one, report: self.report(requests: 6, inFlight: 0))
        XCTAssertEqual(self.value(aggregator.render(), #"foap_requests_total{gen_ai_request_model="m"}"#), 13)

        // Worker one exits (a reload replaced it, or it crashed): its 6 requests stay counted, its gauge goes.
        aggregator.retire(one)
        text = aggregator.render()
        XCTAssertEqual(self.value(text, #"foap_requests_total{gen_ai_request_model="m"}"#), 13)
        XCTAssertEqual(self.value(text, "foap_requests_in_flight"), 1)
        // A report that arrives after the exit was handled cannot count twice.
        aggregator.update(one, report: self.report(requests: 6, inFlight: 0))
        XCTAssertEqual(self.value(aggregator.render(), #"foap_requests_total{gen_ai_request_model="m"}"#), 13)

        // Its successor starts from zero; the total goes on from where it was.
        let three = WorkerID(rawValue: 3)
        aggregator.update(three, report: self.report(requests: 1, inFlight: 0, model: "n"))
        text = aggregator.render()
        XCTAssertEqual(self.value(text, #"foap_requests_total{gen_ai_request_model="m"}"#), 13)
        XCTAssertEqual(self.value(text, #"foap_requests_total{gen_ai_request_model="n"}"#), 1)
    }

    func durationReport(sum: String, count: Int, responseBytes: Int = 0) -> Substring {
        let labels = #"gen_ai_request_model="m",http_route="/v1/chat/completions""#
        return """
            # HELP foap_request_duration_seconds Time.
            # TYPE foap_request_duration_seconds histogram
            foap_request_duration_seconds_bucket{\(labels),le="+Inf"} \(count)
            foap_request_duration_seconds_sum{\(labels)} \(sum)
            foap_request_duration_seconds_count{\(labels)} \(count)
            # HELP foap_response_bytes_total Bytes.
            # TYPE foap_response_bytes_total counter
            foap_response_bytes_total{\(labels)} \(responseBytes)

            """[...]
    }

    /// A histogram's `_sum` is a sum of fractions. Added up as doubles, retired + live depended on the order of the
    /// additions: with 0.2 retired and workers at 0.7 and 0.1, a scrape could add 0.2 + 0.1 + 0.7 = 1.0, and once the
    /// 0.7 worker retired, (0.2 + 0.7) + 0.1 = 0.9999999999999999: a counter that went down, which `rate()` reads as
    /// a reset. Summed as exact fixed-point numbers, the order does not matter.
    func testHistogramSumNeverGoesDownWhenAWorkerRetires() throws {
        let sum = #"foap_request_duration_seconds_sum{gen_ai_request_model="m",http_route="/v1/chat/completions"}"#
        let bytes = #"foap_response_bytes_total{gen_ai_request_model="m",http_route="/v1/chat/completions"}"#
        var aggregator = MetricsAggregator()
        aggregator.update(WorkerID(rawValue: 1), report: self.durationReport(sum: "0.2", count: 1))
        aggregator.retire(WorkerID(rawValue: 1))
        aggregator.update(WorkerID(rawValue: 2), report: self.durationReport(sum: "0.7", count: 1))
        aggregator.update(WorkerID(rawValue: 3), report: self.durationReport(sum: "0.1", count: 1))
        let before = try XCTUnwrap(self.value(aggregator.render(), sum))
        aggregator.retire(WorkerID(rawValue: 2))
        let after = try XCTUnwrap(self.value(aggregator.render(), sum))
        XCTAssertGreaterThanOrEqual(after, before, "the sum went down across a retire")
        XCTAssertEqual(before, 1)
        XCTAssertEqual(after, 1)
        aggregator.retire(WorkerID(rawValue: 3))
        XCTAssertEqual(self.value(aggregator.render(), sum), 1)

        // Whole counters stay exact far beyond what nanosecond fixed point in 64 bits could hold (9.2e9).
        aggregator.update(WorkerID(rawValue: 4), report: self.durationReport(sum: "0", count: 0, responseBytes: 40_000_000_000))
        aggregator.update(WorkerID(rawValue: 5), report: self.durationReport(sum: "0", count: 0, responseBytes: 3))
        aggregator.retire(WorkerID(rawValue: 4))
        XCTAssertTrue(aggregator.render().contains(bytes + " 40000000003\n"), aggregator.render())
    }

    func testExactAmountsAddUpInAnyOrderAndNeverTrap() throws {
        var tenths = ExactAmount()
        for _ in 0..<10 {
            tenths += try XCTUnwrap(ExactAmount(0.1))
        }
        XCTAssertEqual(tenths.value, 1, "ten doubles 0.1 add up to 0.9999999999999999")
        XCTAssertEqual(ExactAmount(9_007_199_254_740_991)?.value, 9_007_199_254_740_991)
        XCTAssertEqual(ExactAmount(3.3)?.value, 3.3)
        var gauge = try XCTUnwrap(ExactAmount(-0.25))
        gauge += try XCTUnwrap(ExactAmount(1))
        XCTAssertEqual(gauge.value, 0.75)
        XCTAssertNil(ExactAmount(.nan))
        XCTAssertNil(ExactAmount(1e19))
        var huge = try XCTUnwrap(ExactAmount(9e18))
        huge += huge
        XCTAssertEqual(huge.value, Double(Int64.max), "saturates instead of trapping")
    }

    func testPacketsSplitAtLinesAndRepeatTheFamilyHeader() {
        var text = "# HELP big A lot.\n# TYPE big counter\n"
        for index in 0..<200 {
            text += "big{i=\"\(index)\"} \(index)\n"
        }
        text += "# HELP small Few.\n# TYPE small gauge\nsmall 1\n"
        let packets = MetricsPackets.split(text, limit: 1000)
        XCTAssertGreaterThan(packets.count, 3)
        XCTAssertTrue(packets.allSatisfy { $0.utf8.count <= 1000 })
        XCTAssertTrue(packets.allSatisfy { $0.hasPrefix("# HELP ") }, "each packet stands on its own")
        var aggregator = MetricsAggregator()
        for packet in packets {
            aggregator.update(WorkerID(rawValue: 1), report: packet[...])
        }
        XCTAssertEqual(aggregator.render(), text)
    }
}
