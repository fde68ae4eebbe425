import CFOAPSpawn
import FOAPWorkerChannel
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// What a worker reads from the environment its master set up.
final class WorkerEnvironmentTests: XCTestCase {
    func testEnvironmentParsingAndSnapshotRead() throws {
        let snapshot = Array("{\"v\":1}".utf8)
        let memfd = snapshot.withUnsafeBytes { cfoap_memfd_with_bytes("test", $0.baseAddress, $0.count) }
        let environment = try WorkerEnvironment.fromProcessEnvironment([
            "FOAP_LISTEN_FDS": "0", "FOAP_CONTROL_FD": "\(memfd)", "FOAP_SNAPSHOT_FD": "\(memfd)",
            "FOAP_WORKER_SLOT": "2", "FOAP_GENERATION": "5",
        ])
        XCTAssertEqual(environment.slot, 2)
        XCTAssertEqual(environment.generation, 5)
        XCTAssertEqual(environment.listenFDs, [])
        XCTAssertEqual(environment.channelFD, memfd)
        XCTAssertEqual(try environment.readSnapshot(), snapshot)
        XCTAssertEqual(fcntl(memfd, F_GETFD), -1, "readSnapshot closes the memfd")
    }

    func testMissingVariableGivesAClearError() {
        XCTAssertThrowsError(try WorkerEnvironment.fromProcessEnvironment([:])) { error in
            XCTAssertTrue("\(error)".contains("FOAP_LISTEN_FDS is not set"))
        }
    }

    func testMalformedOrClosedDescriptorsAreRefused() {
        let base = [
            "FOAP_LISTEN_FDS": "0", "FOAP_CONTROL_FD": "0", "FOAP_SNAPSHOT_FD": "0", "FOAP_WORKER_SLOT": "0",
            "FOAP_GENERATION": "1",
        ]
        XCTAssertThrowsError(
            try WorkerEnvironment.fromProcessEnvironment(base.merging(["FOAP_WORKER_SLOT": "-1"]) { $1 })
        ) { error in
            XCTAssertEqual("\(error)", "FOAP_WORKER_SLOT=-1 is not a non-negative integer")
        }
        XCTAssertThrowsError(
            try WorkerEnvironment.fromProcessEnvironment(base.merging(["FOAP_CONTROL_FD": "987654"]) { $1 })
        ) { error in
            XCTAssertEqual("\(error)", "inherited file descriptor 987654 is not open")
        }
    }

    func testTheVariablesAreTheOnesTheSpawnerSets() {
        XCTAssertEqual(
            WorkerEnvironmentKey.all,
            [
                "FOAP_LISTEN_FDS", "FOAP_CONTROL_FD", "FOAP_SNAPSHOT_FD", "FOAP_WORKER_SLOT", "FOAP_GENERATION",
                "FOAP_LIMITS_FD", "FOAP_LIMITS_HOLDER",
            ]
        )
    }

    /// The limits region is optional (an older master sets none); when announced, its holder id comes with it.
    func testTheLimitsRegionIsReadWhenAnnounced() throws {
        var pair: [Int32] = [-1, -1]
        XCTAssertEqual(socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue), 0, &pair), 0)
        defer { pair.forEach { close($0) } }
        let base = [
            "FOAP_LISTEN_FDS": "0", "FOAP_CONTROL_FD": "\(pair[0])", "FOAP_SNAPSHOT_FD": "\(pair[1])",
            "FOAP_WORKER_SLOT": "0", "FOAP_GENERATION": "1",
        ]
        XCTAssertNil(try WorkerEnvironment.fromProcessEnvironment(base).limits)
        let limited = try WorkerEnvironment.fromProcessEnvironment(
            base.merging(["FOAP_LIMITS_FD": "\(pair[1])", "FOAP_LIMITS_HOLDER": "7"]) { $1 })
        XCTAssertEqual(limited.limits, WorkerEnvironment.SharedLimits(fd: pair[1], holder: 7))
        XCTAssertThrowsError(
            try WorkerEnvironment.fromProcessEnvironment(base.merging(["FOAP_LIMITS_FD": "\(pair[1])"]) { $1 }))
    }
}
