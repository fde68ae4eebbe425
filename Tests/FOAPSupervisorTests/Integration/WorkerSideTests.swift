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

    func testLongMetricsReportsArriveInTurnsAndScrapesAreAnswered() throws {
        var pair: [Int32] = [-1, -1]
        XCTAssertEqual(socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue), 0, &pair), 0)
        let master = pair[0]
        defer { close(master); close(pair[1]) }
        _ = fcntl(master, F_SETFL, O_NONBLOCK)
        let channel = WorkerControlChannel(fd: pair[1])
        var report = "# HELP big Big.\n# TYPE big counter\n"
        for index in 0..<8000 {
            report += "big{series=\"\(index)\",padding=\"\(String(repeating: "x", count: 40))\"} \(index)\n"
        }
        let expected = report
        let packets = MetricsPackets.split(report)
        XCTAssertGreaterThan(packets.count, WorkerControlChannel.packetsPerReport)
        var aggregator = MetricsAggregator()
        for _ in 0..<((packets.count + 2) / 3) {
            channel.sendMetricsReport(report)
            let read = ControlSocket.readAvailable(fd: master)
            XCTAssertEqual(read.metricsReports.count, WorkerControlChannel.packetsPerReport)
            for chunk in read.metricsReports {
                aggregator.update(WorkerID(rawValue: 1), report: chunk)
            }
        }
        XCTAssertTrue(aggregator.render() == report, "every series arrived after enough heartbeats")

        // A scrape: the worker asks, the master answers in packets, the receiving thread hands the text over.
        let answered = expectation(description: "exposition")
        channel.startReceiving(onDrain: {}, onMasterGone: {})
        channel.requestExposition { text in
            XCTAssertTrue(text == expected, "the answer arrives whole, each header once")
            answered.fulfill()
        }
        var requests = 0
        for _ in 0..<200 where requests == 0 {
            requests = ControlSocket.readAvailable(fd: master).expositionRequests
            usleep(1000)
        }
        XCTAssertEqual(requests, 1)
        XCTAssertTrue(ControlSocket.sendExposition(report, fd: master))
        self.wait(for: [answered], timeout: 10)
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
