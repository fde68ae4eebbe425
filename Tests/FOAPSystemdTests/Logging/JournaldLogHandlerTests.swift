import Logging
import Synchronization
import XCTest

@testable import FOAPSystemd

/// Keeps every record a handler sends.
final class RecordingJournalSender: JournalSender {
    private let records = Mutex<[[JournalField]]>([])

    var sent: [[JournalField]] {
        self.records.withLock { $0 }
    }

    func send(fields: [(name: String, value: [UInt8])]) {
        self.records.withLock { $0.append(fields) }
    }
}

/// The fields of a record as `NAME=value` strings, in order, for readable assertions.
func rendered(_ fields: [JournalField]) -> [String] {
    fields.map { "\($0.name)=\(String(decoding: $0.value, as: UTF8.self))" }
}

final class JournaldLogHandlerTests: XCTestCase {
    func testRecordCarriesJournalFieldsThenSortedMetadata() {
        let sender = RecordingJournalSender()
        let logger = Logger(label: "foap.proxy") { label in
            JournaldLogHandler(label: label, sender: sender, metadata: ["worker": "0", "pid": "123"])
        }

        logger.warning("slow upstream", metadata: ["model": "gpt-4o", "duration_ms": "1500"])

        XCTAssertEqual(sender.sent.count, 1)
        let fields = sender.sent.first ?? []
        XCTAssertEqual(
            rendered(fields).filter { !$0.hasPrefix("CODE_") },
            [
                "MESSAGE=slow upstream", "PRIORITY=4", "SYSLOG_IDENTIFIER=foap", "FOAP_LABEL=foap.proxy",
                "FOAP_PID=123", "FOAP_WORKER=0", "FOAP_DURATION_MS=1500", "FOAP_MODEL=gpt-4o",
            ]
        )
        let code = Dictionary(uniqueKeysWithValues: rendered(fields).filter { $0.hasPrefix("CODE_") }.map {
            ($0.prefix { $0 != "=" }, $0.drop { $0 != "=" }.dropFirst())
        })
        XCTAssertEqual(code["CODE_FILE"].map(String.init), "FOAPSystemdTests/JournaldLogHandlerTests.swift")
        XCTAssertEqual(code["CODE_FUNC"].map(String.init), "testRecordCarriesJournalFieldsThenSortedMetadata()")
        XCTAssertNotNil(code["CODE_LINE"].flatMap { Int($0) })
    }

    func testPriorityFollowsSyslogLevels() {
        let expected: [(Logger.Level, Int)] = [
            (.trace, 7), (.debug, 7), (.info, 6), (.notice, 5), (.warning, 4), (.error, 3), (.critical, 2),
        ]
        for (level, priority) in expected {
            XCTAssertEqual(JournalFields.priority(of: level), priority, "\(level)")
        }
        XCTAssertEqual(Set(expected.map(\.0)), Set(Logger.Level.allCases))
    }

    func testValuesKeepNewlinesAndControlBytesUntouched() {
        let handler = JournaldLogHandler(label: "foap", sender: RecordingJournalSender())
        let value = "line one\nline two\u{0}\u{1B} é"
        let event = LogEvent(
            level: .info, message: "multi\nline", metadata: ["body": .string(value)], source: nil,
            file: "F.swift", function: "f()", line: 7
        )

        let fields = handler.fields(of: event)

        XCTAssertEqual(fields.first { $0.name == "MESSAGE" }?.value, Array("multi\nline".utf8))
        XCTAssertEqual(fields.first { $0.name == "FOAP_BODY" }?.value, Array(value.utf8))
        XCTAssertEqual(fields.first { $0.name == "CODE_LINE" }?.value, Array("7".utf8))
    }

    func testNestedValuesErrorsAndOverridesBecomeFields() {
        let provider = Logger.MetadataProvider { ["trace_id": "t-1"] }
        var handler = JournaldLogHandler(label: "foap", sender: RecordingJournalSender(), metadata: ["model": "a"])
        handler.metadataProvider = provider
        let event = LogEvent(
            level: .error, message: "m", error: SampleError(),
            metadata: ["model": "b", "upstream": ["ports": ["1", "2"]]], source: nil, file: "F", function: "f", line: 1
        )

        let metadataFields = rendered(handler.fields(of: event)).filter {
            $0.hasPrefix("FOAP_") && $0 != "FOAP_LABEL=foap"
        }

        XCTAssertEqual(
            metadataFields,
            [
                "FOAP_ERROR=upstream refused", "FOAP_ERROR_TYPE=FOAPSystemdTests.SampleError", "FOAP_MODEL=b",
                "FOAP_TRACE_ID=t-1", #"FOAP_UPSTREAM={"ports":["1","2"]}"#,
            ]
        )
    }

    func testEveryFieldNameIsValidForJournald() {
        let handler = JournaldLogHandler(label: "foap", sender: RecordingJournalSender(), metadata: ["1st": "x"])
        let event = LogEvent(
            level: .info, message: "", metadata: ["é": "1", "_": "2", "a.b-c": "3"], source: nil, file: "F",
            function: "f", line: 1
        )
        for field in handler.fields(of: event) {
            XCTAssertTrue(SystemdJournalSender.isValidFieldName(field.name), field.name)
        }
    }

    func testHandlerMetadataIsAValue() {
        let sender = RecordingJournalSender()
        var first = Logger(label: "foap") { JournaldLogHandler(label: $0, sender: sender) }
        first[metadataKey: "worker"] = "1"
        var second = first
        second[metadataKey: "worker"] = "2"

        first.info("a")
        second.info("b")

        XCTAssertEqual(sender.sent.map { rendered($0).filter { $0.hasPrefix("FOAP_WORKER") } }, [
            ["FOAP_WORKER=1"], ["FOAP_WORKER=2"],
        ])
    }
}
