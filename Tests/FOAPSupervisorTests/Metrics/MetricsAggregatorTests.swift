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
