import Glibc
import XCTest

@testable import FOAPSystemd

final class LogFormatTests: XCTestCase {
    private let stderrStream = JournalStream.Identity(device: 64_769, inode: 1_234_567)
    private let stdoutStream = JournalStream.Identity(device: 64_769, inode: 7_654_321)

    private func resolveAuto(journalStream: String?) -> LogFormat {
        let environment = journalStream.map { ["JOURNAL_STREAM": $0] } ?? [:]
        return LogFormat.auto.resolved(environment: environment, outputStreams: [self.stderrStream, self.stdoutStream])
    }

    func testAutoIsJournalWhenJournalStreamNamesStderrOrStdout() {
        XCTAssertEqual(self.resolveAuto(journalStream: "64769:1234567"), .journal)
        XCTAssertEqual(self.resolveAuto(journalStream: "64769:7654321"), .journal)
    }

    func testAutoIsJSONWhenJournalStreamNamesAnotherFile() {
        XCTAssertEqual(self.resolveAuto(journalStream: "64769:1"), .json)
        XCTAssertEqual(self.resolveAuto(journalStream: "1:1234567"), .json)
    }

    func testAutoIsJSONWithoutOrWithMalformedJournalStream() {
        let malformed = ["", "64769", "64769:", ":1234567", "64769:1234567:1", "a:b", "-1:1234567", " 64769:1234567"]
        for value in [nil] + malformed {
            XCTAssertEqual(self.resolveAuto(journalStream: value), .json, "\(String(describing: value))")
        }
    }

    func testAutoIsJSONWhenOutputsAreClosed() {
        XCTAssertEqual(
            LogFormat.auto.resolved(environment: ["JOURNAL_STREAM": "64769:1234567"], outputStreams: [nil, nil]),
            .json
        )
    }

    func testExplicitFormatsAreKept() {
        for format in [LogFormat.json, .journal, .text] {
            XCTAssertEqual(format.resolved(environment: ["JOURNAL_STREAM": "64769:1234567"]), format)
            XCTAssertEqual(format.resolved(environment: [:]), format)
        }
    }

    func testIdentityOfAnOpenFileMatchesItsJournalStreamText() throws {
        var template = Array("/tmp/foap-journal-stream-XXXXXX".utf8CString)
        let fileDescriptor = mkstemp(&template)
        XCTAssertGreaterThanOrEqual(fileDescriptor, 0)
        defer {
            unlink(template)
            close(fileDescriptor)
        }
        var status = stat()
        XCTAssertEqual(fstat(fileDescriptor, &status), 0)

        let identity = try XCTUnwrap(JournalStream.identity(ofFileDescriptor: fileDescriptor))
        let text = "\(status.st_dev):\(status.st_ino)"

        XCTAssertEqual(JournalStream.Identity(parsing: text), identity)
        XCTAssertEqual(
            LogFormat.auto.resolved(environment: ["JOURNAL_STREAM": text], outputStreams: [nil, identity]),
            .journal
        )
        XCTAssertNil(JournalStream.identity(ofFileDescriptor: -1))
    }

    func testResolvesAgainstTheProcessRealStdout() throws {
        let stdout = try XCTUnwrap(JournalStream.identity(ofFileDescriptor: STDOUT_FILENO), "stdout is closed")
        let matching = "\(stdout.device):\(stdout.inode)"
        let other = "\(stdout.device):\(stdout.inode &+ 1)"
        let stderr = JournalStream.identity(ofFileDescriptor: STDERR_FILENO)

        XCTAssertEqual(LogFormat.auto.resolved(environment: ["JOURNAL_STREAM": matching]), .journal)
        if stderr != JournalStream.Identity(parsing: other) {
            XCTAssertEqual(LogFormat.auto.resolved(environment: ["JOURNAL_STREAM": other]), .json)
        }
        XCTAssertEqual(LogFormat.auto.resolved(environment: [:]), .json)
    }
}
