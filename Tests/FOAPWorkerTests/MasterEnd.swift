import FOAPWorkerChannel
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// A stand-in for the master: the other end of a worker channel socketpair, spoken to with `ChannelPacket` only.
final class MasterEnd {
    let fd: Int32
    /// The worker's end; closed by `close()` unless the test closes it itself.
    let workerFD: Int32
    private var buffer = [UInt8](repeating: 0, count: ChannelPacket.maximumSize)

    init() {
        var pair: [Int32] = [-1, -1]
        precondition(socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue), 0, &pair) == 0)
        self.fd = pair[0]
        self.workerFD = pair[1]
        _ = fcntl(self.fd, F_SETFL, O_NONBLOCK)
    }

    func send(_ packet: ChannelPacket) {
        XCTAssertTrue(ChannelSocket.send(packet, fd: self.fd), "\(packet)")
    }

    /// Every packet queued now (unknown ones as nil).
    func readAvailable() -> [ChannelPacket?] {
        var packets: [ChannelPacket?] = []
        while case .packet(let bytes) = ChannelSocket.receive(fd: self.fd, into: &self.buffer, blocking: false) {
            packets.append(ChannelPacket(decoding: bytes))
        }
        return packets
    }

    /// Waits (bounded) for a packet matching `condition`, returning it and every packet read before it.
    func waitFor(
        _ what: String, seconds: Double = 20, file: StaticString = #filePath, line: UInt = #line,
        _ condition: (ChannelPacket) -> Bool
    ) -> [ChannelPacket] {
        var seen: [ChannelPacket] = []
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        while ContinuousClock.now < deadline {
            var pollFD = pollfd(fd: self.fd, events: Int16(POLLIN), revents: 0)
            _ = poll(&pollFD, 1, 50)
            for packet in self.readAvailable().compactMap({ $0 }) {
                seen.append(packet)
                if condition(packet) {
                    return seen
                }
            }
        }
        XCTFail("no \(what) within \(seconds) s; saw \(seen)", file: file, line: line)
        return seen
    }

    func close() {
        Glibc.close(self.fd)
    }
}
