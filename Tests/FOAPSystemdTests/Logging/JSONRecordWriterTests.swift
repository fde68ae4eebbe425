import Foundation
import Logging
import XCTest

@testable import FOAPSystemd

final class JSONRecordWriterTests: XCTestCase {
    /// The direct path must be indistinguishable from the swift-log path: same bytes for the same record.
    func testLineEqualsTheLogHandlersLineForTheSameFields() throws {
        let processMetadata: Logger.Metadata = ["pid": "123", "worker": "1", "generation": "4"]
        let viaHandler = try LogCapture()
        let logger = Logger(label: "foap") { label in
            var handler = JSONLogHandler(label: label, sink: viaHandler.sink, metadata: processMetadata)
            handler.clock = { pinnedTimestamp }
            return handler
        }
        logger.info(
            "request",
            metadata: [
                "bytes_in": "42", "client": "127.0.0.1:5000", "duration_ms": "1.005", "model": "gpt-\"4\"\n",
                "status": "200", "stream": "false",
            ]
        )
        let direct = try LogCapture()
        var writer = JSONRecordWriter(label: "foap", sink: direct.sink, metadata: processMetadata)
        writer.clock = { pinnedTimestamp }
        writer.write(level: .info, message: "request") { fields in
            fields.append("bytes_in", 42)
            fields.append("client", "127.0.0.1:5000")
            fields.append("duration_ms", thousandths: 1005)
            fields.append("model", "gpt-\"4\"\n")
            fields.append("status", 200)
            fields.append("stream", "false")
        }

        XCTAssertEqual(direct.text, viaHandler.text)
        XCTAssertTrue(direct.text.hasSuffix("}\n"))
        XCTAssertEqual(direct.text.filter { $0 == "\n" }.count, 1)
    }

    /// A record longer than the writer's stack storage (values of several kilobytes, escapes among them) moves to
    /// the heap and is still written whole, byte for byte what the handler writes.
    func testALongRecordIsWrittenWhole() throws {
        let long = String(repeating: "a\"b\\c\n", count: 700)  // 4,200 bytes, 6,300 escaped
        let viaHandler = try LogCapture()
        let logger = Logger(label: "foap") { label in
            var handler = JSONLogHandler(label: label, sink: viaHandler.sink)
            handler.clock = { pinnedTimestamp }
            return handler
        }
        logger.info("request", metadata: ["detail": "\(long)", "error": "\(long)x"])
        let direct = try LogCapture()
        var writer = JSONRecordWriter(label: "foap", sink: direct.sink)
        writer.clock = { pinnedTimestamp }
        writer.write(level: .info, message: "request") { fields in
            fields.append("detail", long)
            fields.append("error", long + "x")
        }
        XCTAssertGreaterThan(direct.text.utf8.count, 12_600)
        XCTAssertEqual(direct.text, viaHandler.text)
    }

    /// Records added to a batch reach the sink only when it is flushed, whole and in order; a batch past its
    /// threshold writes itself.
    func testABatchWritesItsRecordsWhenFlushed() throws {
        let capture = try LogCapture()
        var writer = JSONRecordWriter(label: "l", sink: capture.sink)
        writer.clock = { pinnedTimestamp }
        let batch = writer.makeBatch()
        for number in 1...3 {
            writer.write(level: .info, message: "request", into: batch) { $0.append("n", number) }
        }
        XCTAssertEqual(capture.text, "")
        XCTAssertFalse(batch.isEmpty)
        batch.flush()
        XCTAssertTrue(batch.isEmpty)
        let lines = capture.text.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.compactMap { $0.split(separator: "\"").dropLast().last.map(String.init) }, ["1", "2", "3"])

        let value = String(repeating: "v", count: 1000)
        var added = 0
        while capture.text.utf8.count <= lines.joined().utf8.count + 3 {
            writer.write(level: .info, message: "request", into: batch) { $0.append("v", value) }
            added += 1
            XCTAssertLessThanOrEqual(added * 1000, LogBatch.flushThreshold + 2000, "the batch never wrote itself")
            if added * 1000 > LogBatch.flushThreshold + 2000 { break }
        }
        XCTAssertTrue(batch.isEmpty, "written whole when the threshold was reached")
    }

    /// The access log's way — the opening rendered once, the timestamp from the batch's cache of the last second —
    /// writes the bytes the plain batch path writes, whether records share a second, a millisecond, or cross into
    /// the next second, minute or day.
    func testARecordWithItsOpeningRenderedAheadIsTheSameLine() throws {
        let base = pinnedTimestamp.secondsSinceEpoch
        let times = [
            (base, 123), (base, 124), (base, 124), (base, 999), (base + 1, 0), (base + 1, 5), (base + 56, 7),
            (base + 86_400, 1), (base + 86_400, 2), (0, 0), (base, 123),
        ].map { LogTimestamp(secondsSinceEpoch: $0.0, milliseconds: $0.1) }
        let expected = try LogCapture()
        let actual = try LogCapture()
        var plain = JSONRecordWriter(label: "foap", sink: expected.sink, metadata: ["pid": "7"])
        var opened = JSONRecordWriter(label: "foap", sink: actual.sink, metadata: ["pid": "7"])
        let plainBatch = plain.makeBatch()
        let openedBatch = opened.makeBatch()
        let opening = opened.opening(level: .info, message: "request")
        for (index, time) in times.enumerated() {
            plain.clock = { time }
            opened.clock = { time }
            plain.write(level: .info, message: "request", into: plainBatch) { $0.append("n", index) }
            opened.write(opening, into: openedBatch) { $0.append("n", index) }
        }
        plainBatch.flush()
        openedBatch.flush()
        XCTAssertEqual(actual.text, expected.text)
        XCTAssertEqual(actual.text.split(separator: "\n").count, times.count)
        XCTAssertTrue(actual.text.contains(#"{"ts":"2026-11-26T22:13:04.002Z""#), actual.text)
    }

    /// Values written in one copy (nothing to escape) and escaped ones are the line the handler writes, whatever
    /// the value's length and wherever in it a byte that needs escaping falls (the check reads eight bytes at a
    /// time, the last word overlapping).
    func testEveryValueIsTheHandlersLineWhateverItsLengthAndWhereItsEscapesFall() throws {
        var values = [""]
        for length in 1...20 {
            let plain = String((0..<length).map { Character(UnicodeScalar(UInt8(ascii: "a") + UInt8($0 % 26))) })
            values.append(plain)
            for position in 0..<length {
                for special in ["\"", "\\", "\n", "\u{01}", "\u{1F}", "é"] {
                    var characters = Array(plain)
                    characters[position] = Character(special)
                    values.append(String(characters))
                }
            }
        }
        let viaHandler = try LogCapture()
        let logger = Logger(label: "foap") { label in
            var handler = JSONLogHandler(label: label, sink: viaHandler.sink, metadata: [:])
            handler.clock = { pinnedTimestamp }
            return handler
        }
        let direct = try LogCapture()
        var writer = JSONRecordWriter(label: "foap", sink: direct.sink, metadata: [:])
        writer.clock = { pinnedTimestamp }
        for value in values {
            logger.info("m", metadata: ["v": "\(value)"])
            writer.write(level: .info, message: "m") { $0.append("v", value) }
        }
        XCTAssertEqual(direct.text, viaHandler.text)
        let decoded = try direct.text.split(separator: "\n").map { line in
            try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: String])["v"]
        }
        XCTAssertEqual(decoded, values)
    }

    func testNumbersAreExactDecimalStrings() throws {
        let capture = try LogCapture()
        var writer = JSONRecordWriter(label: "l", sink: capture.sink)
        writer.clock = { pinnedTimestamp }
        writer.write(level: .warning, message: "m") { fields in
            fields.append("zero", 0)
            fields.append("negative", -17)
            fields.append("max", Int.max)
            fields.append("min", Int.min)
            fields.append("nine", 9)
            fields.append("ten", 10)
            fields.append("ms", thousandths: 0)
            fields.append("long_ms", thousandths: 1_000_000_123)
        }

        XCTAssertEqual(
            capture.text,
            #"{"ts":"2026-11-25T22:13:04.123Z","level":"warning","msg":"m","label":"l","zero":"0","negative":"-17","#
                + #""max":"9223372036854775807","min":"-9223372036854775808","nine":"9","ten":"10","ms":"0.000","#
                + #""long_ms":"1000000.123"}"# + "\n"
        )
    }
}
