import FOAPWorker
import FOAPWorkerChannel
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// The worker's end of the worker channel against a bare master end.
final class ChannelToMasterTests: XCTestCase {
    func testWordsBothWaysAndMasterGone() {
        let master = MasterEnd()
        let channel = ChannelToMaster(fd: master.workerFD)
        channel.send(.ready)
        channel.send(.heartbeat)
        XCTAssertEqual(master.readAvailable(), [.worker(.ready), .worker(.heartbeat)])

        let drained = self.expectation(description: "drain")
        let accepted = self.expectation(description: "accept")
        let gone = self.expectation(description: "master gone")
        channel.startReceiving(
            onAccept: { accepted.fulfill() }, onDrain: { drained.fulfill() }, onMasterGone: { gone.fulfill() }
        )
        // Garbage and packets of the worker's own direction are skipped; repeats are not reported again
        // (an expectation fulfilled twice fails the test).
        XCTAssertEqual(ChannelSocket.send(Array("nonsense".utf8), fd: master.fd), .sent)
        master.send(.worker(.ready))
        master.send(.master(.accept))
        master.send(.master(.accept))
        master.send(.master(.drain))
        master.send(.master(.drain))
        self.wait(for: [accepted, drained], timeout: 20)
        master.close()
        self.wait(for: [gone], timeout: 20)
        channel.send(.draining)  // the master is gone: must not crash (EPIPE ignored, no SIGPIPE)
        close(master.workerFD)
    }

    /// A report longer than three packets goes out three packets per heartbeat, taking turns, so every series
    /// arrives after enough heartbeats.
    func testLongMetricsReportsArriveInTurns() {
        let master = MasterEnd()
        defer { master.close(); close(master.workerFD) }
        let channel = ChannelToMaster(fd: master.workerFD)
        var report = "# HELP big Big.\n# TYPE big counter\n"
        for index in 0..<8000 {
            report += "big{series=\"\(index)\",padding=\"\(String(repeating: "x", count: 40))\"} \(index)\n"
        }
        let packets = MetricsPackets.split(report)
        XCTAssertGreaterThan(packets.count, ChannelToMaster.packetsPerReport)
        var received: [String] = []
        for _ in 0..<((packets.count + 2) / 3) {
            channel.sendMetricsReport(report)
            let read = master.readAvailable()
            XCTAssertEqual(read.count, ChannelToMaster.packetsPerReport)
            received += read.compactMap { if case .metricsReport(let text) = $0 { text } else { nil } }
        }
        XCTAssertEqual(Set(received), Set(packets), "every packet arrived after enough heartbeats")
    }

    /// A scrape: the worker asks, the master answers in pieces, the receiving thread hands every waiter the whole text.
    func testExpositionRequestIsAnsweredByTheMastersPieces() {
        let master = MasterEnd()
        defer { master.close(); close(master.workerFD) }
        let channel = ChannelToMaster(fd: master.workerFD)
        var text = ""
        for index in 0..<6000 {
            text += "series{index=\"\(index)\"} \(index)\n"
        }
        let expected = text
        channel.startReceiving(onDrain: {}, onMasterGone: {})
        let answered = self.expectation(description: "exposition")
        answered.expectedFulfillmentCount = 2
        for _ in 0..<2 {
            channel.requestExposition { reply in
                XCTAssertTrue(reply == expected, "the answer arrives whole")
                answered.fulfill()
            }
        }
        XCTAssertEqual(
            master.waitFor("a metrics request") { $0 == .metricsRequest }.filter { $0 == .metricsRequest }.count, 1
        )
        let pieces = MetricsPackets.split(text, repeatingHeaders: false)
        XCTAssertGreaterThan(pieces.count, 1)
        for piece in pieces {
            master.send(.expositionPart(piece))
        }
        master.send(.expositionEnd)
        self.wait(for: [answered], timeout: 20)
    }

    func testARequestTheMasterCannotReceiveIsAnsweredWithNil() {
        let master = MasterEnd()
        master.close()
        let channel = ChannelToMaster(fd: master.workerFD)
        let answered = self.expectation(description: "nil")
        channel.requestExposition { reply in
            XCTAssertNil(reply)
            answered.fulfill()
        }
        self.wait(for: [answered], timeout: 5)
        close(master.workerFD)
    }
}
