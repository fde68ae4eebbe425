import Foundation
import Glibc
import Logging
import XCTest

@testable import FOAPSystemd

/// Sends real records through libsystemd's `sd_journal_sendv` and decodes what arrives on the journal socket.
///
/// `sd_journal_sendv` always sends to /run/systemd/journal/socket, so the test binds its own datagram socket in a
/// temporary directory and re-runs this test binary as a child inside a private mount namespace
/// (`unshare --mount`) where that directory is mounted at /run/systemd/journal. The child runs only
/// `testChildSendsRecordsThroughLibsystemd`, which does nothing unless the parent started it.
final class SystemdJournalSenderTests: XCTestCase {
    private static let childEnvironmentKey = "FOAP_TEST_JOURNAL_CHILD"
    private static let childTestName =
        "FOAPSystemdTests.SystemdJournalSenderTests/testChildSendsRecordsThroughLibsystemd"
    /// Bytes that are not UTF-8 and include NUL and a newline: they must arrive unchanged.
    private static let binaryValue: [UInt8] = [0xFF, 0x00, 0x0A, 0xFE, 0x3D, 0x0A]

    func testChildSendsRecordsThroughLibsystemd() throws {
        guard ProcessInfo.processInfo.environment[Self.childEnvironmentKey] == "1" else {
            throw XCTSkip("runs only as the child of testRealSenderDeliversFieldsToTheJournalSocket")
        }
        let logger = Logger(label: "foap.test") { label in
            JournaldLogHandler(label: label, sender: SystemdJournalSender(), metadata: ["worker": "0"])
        }
        logger.warning("first line\nsecond line", metadata: ["model": "gpt-4o", "note": "a=b"])
        SystemdJournalSender().send(fields: [("MESSAGE", Array("raw".utf8)), ("FOAP_BLOB", Self.binaryValue)])
    }

    func testRealSenderDeliversFieldsToTheJournalSocket() throws {
        guard getuid() == 0 else {
            throw XCTSkip("needs root to create a mount namespace")
        }
        guard access("/usr/bin/unshare", X_OK) == 0 else {
            throw XCTSkip("/usr/bin/unshare (util-linux) is missing")
        }
        let directory = try Self.makeTemporaryDirectory()
        defer { rmdir(directory) }
        let socketPath = directory + "/socket"
        let socket = try Self.bindDatagramSocket(at: socketPath)
        defer {
            close(socket)
            unlink(socketPath)
        }

        let child = try self.runChildInPrivateMountNamespace(journalDirectory: directory)

        XCTAssertEqual(child.status, 0, "child failed:\n\(child.output)")
        let datagrams = Self.receiveAll(from: socket)
        XCTAssertEqual(datagrams.count, 2, "child output:\n\(child.output)")
        guard datagrams.count == 2 else {
            return
        }

        let record = try JournalDatagram.decode(datagrams[0])
        let text = rendered(record)
        XCTAssertEqual(text.first, "MESSAGE=first line\nsecond line")
        XCTAssertTrue(text.contains("PRIORITY=4"), "\(text)")
        XCTAssertTrue(text.contains("SYSLOG_IDENTIFIER=foap"), "\(text)")
        XCTAssertTrue(text.contains("FOAP_LABEL=foap.test"), "\(text)")
        XCTAssertTrue(text.contains("FOAP_MODEL=gpt-4o"), "\(text)")
        XCTAssertTrue(text.contains("FOAP_NOTE=a=b"), "\(text)")
        XCTAssertTrue(text.contains("FOAP_WORKER=0"), "\(text)")
        XCTAssertTrue(text.contains("CODE_FILE=FOAPSystemdTests/SystemdJournalSenderTests.swift"), "\(text)")
        XCTAssertEqual(record.filter { $0.name == "SYSLOG_IDENTIFIER" }.count, 1)

        let raw = try JournalDatagram.decode(datagrams[1])
        XCTAssertEqual(raw.first { $0.name == "MESSAGE" }?.value, Array("raw".utf8))
        XCTAssertEqual(raw.first { $0.name == "FOAP_BLOB" }?.value, Self.binaryValue)
    }

    /// Runs the child test under `unshare --mount`, with a fresh tmpfs on /run (so nothing is created on the real
    /// /run) and the test's directory bound at /run/systemd/journal. Waits with a generous bounded deadline.
    private func runChildInPrivateMountNamespace(journalDirectory: String) throws -> (status: Int32, output: String) {
        let executable = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
        let script = """
            mount -t tmpfs tmpfs /run && mkdir -p /run/systemd/journal \
            && mount --bind "$1" /run/systemd/journal && exec "$2" "$3"
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/unshare")
        process.arguments = [
            "--mount", "--propagation", "private", "/bin/sh", "-c", script, "sh", journalDirectory, executable,
            Self.childTestName,
        ]
        var environment = ProcessInfo.processInfo.environment
        environment[Self.childEnvironmentKey] = "1"
        process.environment = environment
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        process.standardInput = FileHandle.nullDevice
        try process.run()
        // The child prints only XCTest's few summary lines, far below the pipe's capacity, so it never blocks on
        // output while the parent waits; reading after exit keeps a hung child from hanging the read.
        let deadline = Date().addingTimeInterval(60)
        while process.isRunning && Date() < deadline {
            usleep(10_000)
        }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            XCTFail("child did not exit within 60 s")
        }
        try output.fileHandleForWriting.close()
        let outputData = output.fileHandleForReading.readDataToEndOfFile()
        return (process.terminationStatus, String(decoding: outputData, as: UTF8.self))
    }

    private static func makeTemporaryDirectory() throws -> String {
        var template = Array("/tmp/foap-journal-XXXXXX".utf8CString)
        guard mkdtemp(&template) != nil else {
            throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO)
        }
        return String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    private static func bindDatagramSocket(at path: String) throws -> CInt {
        let socket = Glibc.socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard socket >= 0 else {
            throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO)
        }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let pathBytes = Array(path.utf8)
        precondition(pathBytes.count < MemoryLayout.size(ofValue: address.sun_path), "socket path too long")
        withUnsafeMutableBytes(of: &address.sun_path) { sunPath in
            sunPath.copyBytes(from: pathBytes)
        }
        let result = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(socket, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard result == 0 else {
            let error = errno
            close(socket)
            throw POSIXError(POSIXErrorCode(rawValue: error) ?? .EIO)
        }
        return socket
    }

    /// Every datagram already queued; the child has exited, so nothing more can arrive.
    private static func receiveAll(from socket: CInt) -> [[UInt8]] {
        var datagrams: [[UInt8]] = []
        var buffer = [UInt8](repeating: 0, count: 256 * 1024)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(socket, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            guard count >= 0 else {
                return datagrams
            }
            datagrams.append(Array(buffer[0..<count]))
        }
    }
}
