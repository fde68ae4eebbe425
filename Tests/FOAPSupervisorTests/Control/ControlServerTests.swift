import XCTest

@testable import FOAPSupervisor

#if canImport(Glibc)
import Glibc
#endif

/// The control socket against clients that misbehave: a wrong line, a line without end, silence, a stale socket.
final class ControlServerTests: XCTestCase {
    func socketPath() -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("foap-ctl-\(UUID().uuidString)").path
        self.addTeardownBlock { unlink(path) }
        return path
    }

    /// A connected raw client; the server has accepted it.
    func connect(_ server: ControlServer, now: ContinuousClock.Instant) throws -> (Int32, ControlClientID) {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        let address = try SocketAddress.unix(path: server.path)
        XCTAssertEqual(address.withSockaddr { Glibc.connect(fd, $0, $1) }, 0)
        self.addTeardownBlock { close(fd) }
        let before = Set(server.clientDescriptors.map(\.0))
        for _ in 0..<100 where Set(server.clientDescriptors.map(\.0)) == before {
            server.acceptPending(now: now)
            usleep(1000)
        }
        let id = try XCTUnwrap(Set(server.clientDescriptors.map(\.0)).subtracting(before).first)
        return (fd, id)
    }

    func write(_ fd: Int32, _ text: String) {
        _ = Array(text.utf8).withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, 0) }
    }

    /// Reads until the server closes the connection.
    func readReply(_ fd: Int32) -> String {
        var reply: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1024)
        while true {
            let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { break }
            reply += chunk[0..<count]
        }
        return String(decoding: reply, as: UTF8.self)
    }

    /// Polls `read` until the client's bytes arrived (the socket is non-blocking on the server side).
    func input(_ server: ControlServer, _ id: ControlClientID) -> ControlServer.Input? {
        for _ in 0..<200 {
            if let input = server.read(id) { return input }
            usleep(1000)
        }
        return nil
    }

    func testUnknownCommandAndOverlongLineAreAnsweredWithAnError() throws {
        let t0 = ContinuousClock.now
        let server = try ControlServer(path: self.socketPath())
        let (fd, id) = try self.connect(server, now: t0)
        self.write(fd, "restart now\n")
        guard case .invalid(id, let problem) = self.input(server, id) else { return XCTFail("no .invalid") }
        XCTAssertEqual(problem, "unknown command 'restart now': expected status, reload [--wait] [--force] or drain")
        server.answer(id, ControlReply(ok: false, lines: [problem]))
        XCTAssertEqual(ControlReply(text: self.readReply(fd)), ControlReply(ok: false, lines: [problem]))

        let (long, longID) = try self.connect(server, now: t0)
        self.write(long, String(repeating: "x", count: ControlServer.maximumLineLength + 1))
        guard case .invalid(longID, let tooLong) = self.input(server, longID) else { return XCTFail("no .invalid") }
        XCTAssertEqual(tooLong, "command line too long")
    }

    /// `reload`'s options in either order, each once; the line a command writes parses back to it.
    func testReloadOptionsParseInAnyOrderAndRoundTrip() {
        XCTAssertEqual(ControlCommand(line: "reload"), .reload(wait: false, force: false))
        XCTAssertEqual(ControlCommand(line: "reload --force"), .reload(wait: false, force: true))
        XCTAssertEqual(ControlCommand(line: "reload --force --wait"), .reload(wait: true, force: true))
        XCTAssertEqual(ControlCommand(line: " reload  --wait\t--force\r"), .reload(wait: true, force: true))
        for line in ["reload --force --force", "reload --now", "status --force", "drain --force", "", "reload wait"] {
            XCTAssertNil(ControlCommand(line: line), line)
        }
        for command in [ControlCommand.status, .drain] + [false, true].flatMap({ wait in
            [false, true].map { ControlCommand.reload(wait: wait, force: $0) }
        }) {
            XCTAssertEqual(ControlCommand(line: command.line), command, command.line)
        }
    }

    func testASilentClientIsDroppedAtItsDeadlineAndAWaitingOneIsNot() throws {
        let t0 = ContinuousClock.now
        let server = try ControlServer(path: self.socketPath(), commandTimeout: .seconds(5))
        let (silent, silentID) = try self.connect(server, now: t0)
        let (waiting, waitingID) = try self.connect(server, now: t0)
        self.write(waiting, "reload --wait\n")
        XCTAssertEqual(self.input(server, waitingID), .command(waitingID, .reload(wait: true)))
        XCTAssertEqual(server.nextDeadline, t0 + .seconds(5), "only the silent one has a deadline left")
        server.dropSilentClients(now: t0 + .seconds(4))
        XCTAssertEqual(server.clients.count, 2)
        server.dropSilentClients(now: t0 + .seconds(5))
        XCTAssertEqual(Set(server.clients.keys), [waitingID], "a reload may take as long as it takes")
        XCTAssertEqual(self.readReply(silent), "", "closed without an answer")
        _ = silentID
    }

    func testAStaleSocketIsReplacedButAnyOtherFileIsKept() throws {
        let path = self.socketPath()
        do {
            _ = try ControlServer(path: path)
        }
        // A killed master leaves its socket file behind (deinit removed it here; make one like it).
        let stale = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        XCTAssertEqual(try SocketAddress.unix(path: path).withSockaddr { bind(stale, $0, $1) }, 0)
        close(stale)
        XCTAssertNoThrow(try ControlServer(path: path))

        let file = self.socketPath()
        XCTAssertTrue(FileManager.default.createFile(atPath: file, contents: Data("keep me".utf8)))
        XCTAssertThrowsError(try ControlServer(path: file)) { error in
            XCTAssertTrue("\(error)".contains("not a socket"), "\(error)")
        }
        XCTAssertEqual(FileManager.default.contents(atPath: file), Data("keep me".utf8))
        XCTAssertThrowsError(try ControlServer(path: "/tmp/" + String(repeating: "x", count: 200)))
    }
}
