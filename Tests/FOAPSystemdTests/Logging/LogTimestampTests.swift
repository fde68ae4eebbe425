import XCTest

@testable import FOAPSystemd

final class LogTimestampTests: XCTestCase {
    private func format(_ seconds: Int, _ milliseconds: Int) -> String {
        var buffer: [UInt8] = []
        LogTimestamp(secondsSinceEpoch: seconds, milliseconds: milliseconds).append(to: &buffer)
        return String(decoding: buffer, as: UTF8.self)
    }

    func testFormatsRFC3339UTCWithMilliseconds() {
        XCTAssertEqual(self.format(1_795_644_784, 123), "2026-11-25T22:13:04.123Z")
    }

    func testPadsEveryComponent() {
        XCTAssertEqual(self.format(0, 0), "1970-01-01T00:00:00.000Z")
        XCTAssertEqual(self.format(0, 7), "1970-01-01T00:00:00.007Z")
        XCTAssertEqual(self.format(0, 70), "1970-01-01T00:00:00.070Z")
    }

    func testHandlesLeapDayAndCenturyBoundaries() {
        XCTAssertEqual(self.format(1_709_251_199, 999), "2024-02-29T23:59:59.999Z")
        XCTAssertEqual(self.format(4_107_542_400, 0), "2100-03-01T00:00:00.000Z")
    }

    func testNowIsAlwaysTwentyFourBytes() {
        var buffer: [UInt8] = []
        LogTimestamp.now().append(to: &buffer)
        XCTAssertEqual(buffer.count, 24)
        XCTAssertEqual(buffer.last, UInt8(ascii: "Z"))
    }
}
