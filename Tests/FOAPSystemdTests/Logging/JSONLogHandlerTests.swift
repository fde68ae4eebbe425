import Logging
import XCTest

@testable import FOAPSystemd

final class JSONLogHandlerTests: XCTestCase {
    private func makeLogger(
        _ capture: LogCapture,
        metadata: Logger.Metadata = [:],
        provider: Logger.MetadataProvider? = nil
    ) -> Logger {
        Logger(label: "foap") { label in
            var handler = JSONLogHandler(label: label, sink: capture.sink, metadata: metadata)
            handler.clock = { pinnedTimestamp }
            handler.metadataProvider = provider
            return handler
        }
    }

    func testWritesOneExactLinePerRecord() throws {
        let capture = try LogCapture()
        let logger = self.makeLogger(capture, metadata: ["pid": "123", "generation": "3"])

        logger.info("request done", metadata: ["request_id": "r-1", "status": .stringConvertible(200)])

        XCTAssertEqual(
            capture.text,
            #"{"ts":"2026-11-25T22:13:04.123Z","level":"info","msg":"request done","label":"foap","#
                + #""generation":"3","pid":"123","request_id":"r-1","status":"200"}"# + "\n"
        )
    }

    func testRecordWithoutMetadataUsesHandlerMetadataOnly() throws {
        let capture = try LogCapture()
        let logger = self.makeLogger(capture, metadata: ["worker": "0"])

        logger.warning("slow")

        XCTAssertEqual(
            capture.lines,
            [#"{"ts":"2026-11-25T22:13:04.123Z","level":"warning","msg":"slow","label":"foap","worker":"0"}"#]
        )
    }

    func testRecordMetadataOverridesHandlerMetadataWithoutDuplicateKeys() throws {
        let capture = try LogCapture()
        let logger = self.makeLogger(capture, metadata: ["model": "base", "pid": "1"])

        logger.info("x", metadata: ["model": "gpt-4o"])

        XCTAssertEqual(capture.lines.count, 1)
        XCTAssertEqual(capture.lines[0].components(separatedBy: #""model""#).count, 2, capture.lines[0])
        let object = try XCTUnwrap(capture.jsonObjects().first)
        XCTAssertEqual(object["model"] as? String, "gpt-4o")
        XCTAssertEqual(object["pid"] as? String, "1")
    }

    func testMetadataNamedLikeFixedKeysIsRenamed() throws {
        let capture = try LogCapture()
        let logger = self.makeLogger(capture, metadata: ["label": "mine"])

        logger.info("real", metadata: ["msg": "fake", "ts": "0", "level": "none"])

        let object = try XCTUnwrap(capture.jsonObjects().first)
        XCTAssertEqual(object["msg"] as? String, "real")
        XCTAssertEqual(object["label"] as? String, "foap")
        XCTAssertEqual(object["meta_msg"] as? String, "fake")
        XCTAssertEqual(object["meta_label"] as? String, "mine")
        XCTAssertEqual(object["meta_ts"] as? String, "0")
        XCTAssertEqual(object["meta_level"] as? String, "none")
    }

    func testHostileMessageAndValuesStayOneValidLine() throws {
        let capture = try LogCapture()
        let logger = self.makeLogger(capture)
        let hostile = "line1\nline2\r\t\"quoted\" \\ \u{0}\u{1B}[31m é 🚀"

        logger.error("\(hostile)", metadata: [hostile: .string(hostile)])

        XCTAssertEqual(capture.lines.count, 1)
        let object = try XCTUnwrap(capture.jsonObjects().first)
        XCTAssertEqual(object["msg"] as? String, hostile)
        XCTAssertEqual(object[hostile] as? String, hostile)
    }

    func testNestedMetadataIsRenderedAsJSON() throws {
        let capture = try LogCapture()
        let logger = self.makeLogger(capture)

        logger.info("x", metadata: ["upstream": ["host": "a", "ports": ["1", "2"]]])

        XCTAssertTrue(capture.lines[0].hasSuffix(#","upstream":{"host":"a","ports":["1","2"]}}"#), capture.lines[0])
        let upstream = try XCTUnwrap(capture.jsonObjects().first?["upstream"] as? [String: Any])
        XCTAssertEqual(upstream["ports"] as? [String], ["1", "2"])
    }

    func testErrorAndMetadataProviderAreIncluded() throws {
        let capture = try LogCapture()
        let provider = Logger.MetadataProvider { ["trace_id": "t-9"] }
        let logger = self.makeLogger(capture, provider: provider)

        logger.error("failed", error: SampleError())

        let object = try XCTUnwrap(capture.jsonObjects().first)
        XCTAssertEqual(object["trace_id"] as? String, "t-9")
        XCTAssertEqual(object["error"] as? String, "upstream refused")
        XCTAssertEqual(object["error_type"] as? String, "FOAPSystemdTests.SampleError")
    }

    func testFilteredRecordIsNeitherFormattedNorWritten() throws {
        let capture = try LogCapture()
        var logger = self.makeLogger(capture)
        logger.logLevel = .notice
        var evaluated = false
        func expensive() -> String {
            evaluated = true
            return "expensive"
        }

        logger.info("\(expensive())")
        logger.notice("kept")

        XCTAssertFalse(evaluated)
        XCTAssertEqual(capture.lines.count, 1)
        XCTAssertTrue(capture.lines[0].contains(#""msg":"kept""#))
    }

    func testLevelAndMetadataAreValues() throws {
        let capture = try LogCapture()
        var first = self.makeLogger(capture)
        first.logLevel = .debug
        first[metadataKey: "only_on"] = "first"

        var second = first
        second.logLevel = .error
        second[metadataKey: "only_on"] = "second"
        first.debug("one")
        second.error("two")

        XCTAssertEqual(first.logLevel, .debug)
        XCTAssertEqual(second.logLevel, .error)
        XCTAssertEqual(first[metadataKey: "only_on"], "first")
        XCTAssertEqual(second[metadataKey: "only_on"], "second")
        XCTAssertEqual(try capture.jsonObjects().map { $0["only_on"] as? String }, ["first", "second"])
    }
}
