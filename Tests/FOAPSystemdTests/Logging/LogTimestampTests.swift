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
        XCTAssertEqual(self.format(951_782_400, 1), "2000-02-29T00:00:00.001Z")
        XCTAssertEqual(self.format(253_402_300_799, 999), "9999-12-31T23:59:59.999Z")
    }

    func testBeforeTheEpoch() {
        XCTAssertEqual(self.format(-1, 0), "1969-12-31T23:59:59.000Z")
        XCTAssertEqual(self.format(-86_400, 5), "1969-12-31T00:00:00.005Z")
    }

    func testNowIsAlwaysTwentyFourBytes() {
        var buffer: [UInt8] = []
        LogTimestamp.now().append(to: &buffer)
        XCTAssertEqual(buffer.count, 24)
        XCTAssertEqual(buffer.last, UInt8(ascii: "Z"))
    }
}
