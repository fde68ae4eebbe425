import FOAPWorkerChannel
import XCTest

@testable import FOAPSupervisor

#if canImport(Glibc)
import Glibc
#endif

/// The master's end of a worker channel over a real socketpair, with a bare worker end.
final class ChannelToWorkerTests: XCTestCase {
    func socketpair() -> (master: Int32, worker: Int32) {
        var pair: [Int32] = [-1, -1]
        XCTAssertEqual(Glibc.socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue), 0, &pair), 0)
        _ = fcntl(pair[0], F_SETFL, O_NONBLOCK)
        return (pair[0], pair[1])
    }

    func testReadSortsWordsReportsAndRequestsAndSkipsTheRest() {
        let (master, worker) = self.socketpair()
        defer { close(master) }
        for packet: ChannelPacket in [
            .worker(.ready), .metricsReport("a 1\n"), .metricsRequest, .master(.drain), .worker(.heartbeat),
            .expositionEnd, .metricsRequest,
        ] {
            XCTAssertTrue(ChannelSocket.send(packet, fd: worker))
        }
        XCTAssertEqual(ChannelSocket.send(Array("future-word".utf8), fd: worker), .sent)
        XCTAssertEqual(
            ChannelToWorker.readAvailable(fd: master),
            .init(messages: [.ready, .heartbeat], metricsReports: ["a 1\n"], metricsRequests: 2, closed: false)
        )
        XCTAssertEqual(ChannelToWorker.readAvailable(fd: master), .init())
        XCTAssertTrue(ChannelSocket.send(.worker(.draining), fd: worker))
        close(worker)
        XCTAssertEqual(ChannelToWorker.readAvailable(fd: master), .init(messages: [.draining], closed: true))
    }

    /// An answer several times the socket's capacity: the outbox sends what fits, the rest goes out as the worker
    /// reads (the loop's POLLOUT), and the worker gets the text whole, followed by the drain queued behind it.
    func testAnAnswerLargerThanTheSocketDrainsOnPollOut() {
        let (master, worker) = self.socketpair()
        defer { close(master); close(worker) }
        var text = ""
        for index in 0..<30_000 {
            text += "series{index=\"\(index)\",padding=\"\(String(repeating: "y", count: 20))\"} \(index)\n"
        }
        XCTAssertGreaterThan(text.utf8.count, 1_000_000)
        var channel = ChannelToWorker(fd: master)
        let now = ContinuousClock.now
        channel.outbox.enqueue(.exposition(bytes: text.utf8.count), ChannelToWorker.exposition(text), deadline: now + .seconds(60))
        channel.outbox.enqueue(.message(.drain), [.master(.drain)])
        XCTAssertEqual(channel.outbox.flush(now: now) { ChannelSocket.send($0, fd: master) }, .init())
        XCTAssertFalse(channel.outbox.isEmpty, "more than the socket holds")

        var assembled = ""
        var received: [ChannelPacket] = []
        var buffer = [UInt8](repeating: 0, count: ChannelPacket.maximumSize)
        let deadline = ContinuousClock.now + .seconds(20)
        while received.last != .master(.drain), ContinuousClock.now < deadline {
            // The worker reads what is there...
            while case .packet(let bytes) = ChannelSocket.receive(fd: worker, into: &buffer, blocking: false) {
                let packet = ChannelPacket(decoding: bytes)
                if case .expositionPart(let part) = packet { assembled += part }
                received += packet.map { [$0] } ?? []
            }
            // ...and the master's loop sends more once poll says there is room.
            var pollFD = pollfd(fd: master, events: Int16(POLLOUT), revents: 0)
            if !channel.outbox.isEmpty, poll(&pollFD, 1, 100) > 0 {
                XCTAssertEqual(channel.outbox.flush(now: .now) { ChannelSocket.send($0, fd: master) }, .init())
            }
        }
        XCTAssertTrue(assembled == text, "the answer arrived whole")
        XCTAssertEqual(received.suffix(2), [.expositionEnd, .master(.drain)])
        XCTAssertTrue(channel.outbox.isEmpty)
    }
}
