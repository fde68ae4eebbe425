import CFOAPSpawn
import XCTest

@testable import FOAPSupervisor

#if canImport(Glibc)
import Glibc
#endif

final class WorkerSideTests: XCTestCase {
    func testEnvironmentParsingAndSnapshotRead() throws {
        let snapshot = Array("{\"v\":1}".utf8)
        let memfd = snapshot.withUnsafeBytes { cfoapMemfd($0) }
        let environment = try WorkerEnvironment.fromProcessEnvironment([
            "FOAP_LISTEN_FDS": "0", "FOAP_CONTROL_FD": "\(memfd)", "FOAP_SNAPSHOT_FD": "\(memfd)",
            "FOAP_WORKER_SLOT": "2", "FOAP_GENERATION": "5",
        ])
        XCTAssertEqual(environment.slot, 2)
        XCTAssertEqual(environment.generation, 5)
        XCTAssertEqual(environment.listenFDs, [])
        XCTAssertEqual(try environment.readSnapshot(), snapshot)
        XCTAssertEqual(fcntl(memfd, F_GETFD), -1, "readSnapshot closes the memfd")
    }

    func testMissingVariableGivesAClearError() {
        XCTAssertThrowsError(try WorkerEnvironment.fromProcessEnvironment([:])) { error in
            XCTAssertTrue("\(error)".contains("FOAP_LISTEN_FDS is not set"))
        }
    }

    func testControlChannelBothWays() throws {
        var pair: [Int32] = [-1, -1]
        XCTAssertEqual(socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue), 0, &pair), 0)
        let master = pair[0]
        _ = fcntl(master, F_SETFL, O_NONBLOCK)
        let channel = WorkerControlChannel(fd: pair[1])
        channel.send(.ready)
        channel.send(.heartbeat)
        XCTAssertEqual(ControlSocket.readAvailable(fd: master), .init(messages: [.ready, .heartbeat], closed: false))

        let drained = self.expectation(description: "drain")
        let gone = self.expectation(description: "master gone")
        channel.startReceiving(onDrain: { drained.fulfill() }, onMasterGone: { gone.fulfill() })
        XCTAssertTrue(ControlSocket.send(.drain, fd: master))
        XCTAssertTrue(ControlSocket.send(.drain, fd: master))  // a second drain is not reported again
        self.wait(for: [drained], timeout: 20)
        close(master)
        self.wait(for: [gone], timeout: 20)
        channel.send(.draining)  // the master is gone: must not crash (EPIPE ignored, no SIGPIPE)
        close(pair[1])
    }
}

func cfoapMemfd(_ bytes: UnsafeRawBufferPointer) -> Int32 {
    cfoap_memfd_with_bytes("test", bytes.baseAddress, bytes.count)
}
