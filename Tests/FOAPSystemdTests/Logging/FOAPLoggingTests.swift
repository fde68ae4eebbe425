import Logging
import XCTest

@testable import FOAPSystemd

final class FOAPLoggingTests: XCTestCase {
    func testParseLevelAcceptsCommonSpellings() {
        let cases: [(String, Logger.Level)] = [
            ("INFO", .info), ("info", .info), ("debug", .debug), ("Trace", .trace), ("notice", .notice),
            ("warning", .warning), ("WARN", .warning), ("warn", .warning), ("error", .error), ("ERR", .error),
            ("critical", .critical), ("crit", .critical), ("fatal", .critical), (" info\n", .info),
        ]
        for (text, level) in cases {
            XCTAssertEqual(FOAPLogging.parseLevel(text), level, text.debugDescription)
        }
    }

    func testParseLevelRejectsEverythingElse() {
        for text in ["", " ", "inf", "verbose", "in fo", "3", "info debug"] {
            XCTAssertNil(FOAPLogging.parseLevel(text), text.debugDescription)
        }
    }

    func testFactoryBuildsTheHandlerOfEachFormatWithLevelAndMetadata() throws {
        let capture = try LogCapture()
        let metadata: Logger.Metadata = ["pid": "123", "worker": "0", "generation": "3"]
        let expected: [(LogFormat, Any.Type)] = [
            (.json, JSONLogHandler.self), (.text, TextLogHandler.self), (.journal, JournaldLogHandler.self),
        ]
        for (format, handlerType) in expected {
            let factory = FOAPLogging.makeHandlerFactory(
                format: format, level: .debug, metadata: metadata, sink: capture.sink, sender: RecordingJournalSender()
            )
            let handler = factory("foap", nil)
            XCTAssertTrue(type(of: handler) == handlerType, "\(format): \(type(of: handler))")
            XCTAssertEqual(handler.logLevel, .debug)
            XCTAssertEqual(handler.metadata, metadata)
        }
    }

    func testFactoryHandlersWriteThroughTheSharedSinkAndSender() throws {
        let capture = try LogCapture()
        let sender = RecordingJournalSender()
        let provider = Logger.MetadataProvider { ["request_id": "r-7"] }
        let makeJSON = FOAPLogging.makeHandlerFactory(
            format: .json, level: .warning, metadata: ["pid": "1"], sink: capture.sink, sender: sender
        )
        let makeJournal = FOAPLogging.makeHandlerFactory(
            format: .journal, level: .info, metadata: ["pid": "1"], sink: capture.sink, sender: sender
        )
        let json = Logger(label: "foap.json") { makeJSON($0, provider) }
        let journal = Logger(label: "foap.journal") { makeJournal($0, nil) }

        json.info("filtered")
        json.warning("kept")
        journal.info("sent")

        let objects = try capture.jsonObjects()
        XCTAssertEqual(objects.map { $0["msg"] as? String }, ["kept"])
        XCTAssertEqual(objects.first?["request_id"] as? String, "r-7")
        XCTAssertEqual(objects.first?["pid"] as? String, "1")
        XCTAssertEqual(sender.sent.count, 1)
        XCTAssertTrue(rendered(sender.sent.first ?? []).contains("FOAP_PID=1"))
    }
}
