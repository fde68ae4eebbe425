import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import XCTest

@testable import FOAPProxy

final class AccessRecordTests: XCTestCase {
    func testMillisecondsHaveThreeDecimals() {
        XCTAssertEqual(AccessRecord.milliseconds(.nanoseconds(1_005_999)), "1.005")
        XCTAssertEqual(AccessRecord.milliseconds(.nanoseconds(7_000)), "0.007")
        XCTAssertEqual(AccessRecord.milliseconds(.nanoseconds(40_000)), "0.040")
        XCTAssertEqual(AccessRecord.milliseconds(.nanoseconds(123_456_789_000)), "123456.789")
        XCTAssertEqual(AccessRecord.milliseconds(.nanoseconds(0)), "0.000")
        XCTAssertEqual(AccessRecord.milliseconds(.nanoseconds(-5_000)), "0.000", "never negative")
    }

    /// Both writers render this one list; its key order is what `JSONLogHandler` writes, so the direct JSON line
    /// and the swift-log line agree byte for byte.
    func testFieldsComeInKeyOrderAndOptionalOnesOnlyWhenSet() {
        let head = HTTPRequestHead(
            version: .http1_1, method: .POST, uri: "/v1/chat/completions", headers: ["X-Request-ID": "r-1"])
        var record = AccessRecord(head: head, route: .forward(path: "v1/chat/completions"), client: "127.0.0.1:5")
        var keys: [String] = []
        record.forEachField { key, _ in keys.append(key.description) }
        XCTAssertEqual(
            keys,
            ["bytes_in", "bytes_out", "client", "duration_ms", "method", "request_id", "route", "status", "stream"]
        )

        record.error = "upstream_timeout"
        record.keyName = "team-a"
        record.model = "m"
        record.provider = "p"
        record.targetModel = "t"
        record.firstByteAt = record.startedAt + .milliseconds(2)
        record.upstream = "http://u"
        record.upstreamStatus = 200
        record.status = 504
        var fields: [(String, String)] = []
        record.forEachField { key, value in fields.append((key.description, value.text)) }
        XCTAssertEqual(fields.map(\.0), fields.map(\.0).sorted())
        XCTAssertEqual(fields.count, 17)
        XCTAssertEqual(fields.first { $0.0 == "request_id" }?.1, "r-1")
        XCTAssertEqual(fields.first { $0.0 == "status" }?.1, "504")
        XCTAssertEqual(fields.first { $0.0 == "ttfb_ms" }?.1, "2.000")
    }

    func testGeneratedRequestIDsShareTheProcessPrefixAndCount() {
        let first = RequestID.text(RequestID.take())
        let second = RequestID.text(RequestID.take())
        let parts = first.split(separator: "-")
        XCTAssertEqual(parts.count, 3)
        XCTAssertEqual(parts[0], "foap")
        XCTAssertEqual(parts[1].count, 8)
        XCTAssertTrue(parts[1].allSatisfy(\.isHexDigit))
        let secondParts = second.split(separator: "-")
        XCTAssertEqual(secondParts[1], parts[1])
        XCTAssertGreaterThan(UInt64(secondParts[2]) ?? 0, UInt64(parts[2]) ?? .max)
    }

    /// Every event loop takes ids from the one counter at once: none is handed out twice.
    func testIDsTakenFromManyThreadsAtOnceAreUnique() {
        let ids = NIOLockedValueBox<[String]>([])
        DispatchQueue.concurrentPerform(iterations: 8) { _ in
            var mine: [String] = []
            for _ in 0..<2000 {
                mine.append(RequestID.text(RequestID.take()))
            }
            ids.withLockedValue { $0 += mine }
        }
        let all = ids.withLockedValue { $0 }
        XCTAssertEqual(all.count, 16_000)
        XCTAssertEqual(Set(all).count, 16_000)
    }
}
