import Logging
import XCTest

@testable import FOAPSystemd

final class TextLogHandlerTests: XCTestCase {
    private func makeLogger(_ capture: LogCapture, metadata: Logger.Metadata = [:]) -> Logger {
        Logger(label: "foap") { label in
            var handler = TextLogHandler(label: label, sink: capture.sink, metadata: metadata)
            handler.clock = { pinnedTimestamp }
            return handler
        }
    }

    func testWritesTimestampLevelLabelMessageAndSortedPairs() throws {
        let capture = try LogCapture()
        let logger = self.makeLogger(capture, metadata: ["worker": "0", "pid": "42"])

        logger.info("request done", metadata: ["status": "200", "model": "gpt-4o"])

        XCTAssertEqual(
            capture.text,
            "2026-11-25T22:13:04.123Z info foap: request done pid=42 worker=0 model=gpt-4o status=200\n"
        )
    }

    func testQuotesValuesAReaderCouldMisparse() throws {
        let capture = try LogCapture()
        let logger = self.makeLogger(capture)

        logger.warning("x", metadata: ["a": "two words", "b": "", "c": "k=v", "d": #"say "hi""#, "e": "plain/ok"])

        XCTAssertEqual(
            capture.lines,
            [#"2026-11-25T22:13:04.123Z warning foap: x a="two words" b="" c="k=v" d="say \"hi\"" e=plain/ok"#]
        )
    }

    func testMultiLineMessageStaysOnOneLine() throws {
        let capture = try LogCapture()
        let logger = self.makeLogger(capture)

        logger.error("first\nsecond\ttab", metadata: ["nested": ["k": "v"], "err": "a\nb"])

        XCTAssertEqual(
            capture.lines,
            [#"2026-11-25T22:13:04.123Z error foap: first\nsecond\ttab err="a\nb" nested={"k":"v"}"#]
        )
    }

    func testRecordMetadataOverridesHandlerMetadata() throws {
        let capture = try LogCapture()
        let logger = self.makeLogger(capture, metadata: ["model": "base"])

        logger.info("x", metadata: ["model": "override"])

        XCTAssertEqual(capture.lines, ["2026-11-25T22:13:04.123Z info foap: x model=override"])
    }
}
