import FOAPWorkerChannel
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// The worker channel's wire format: every packet survives encode → decode, the bytes of each word are pinned (an old
/// master may talk to a new worker), and anything else decodes to nil instead of being misread.
final class ChannelPacketTests: XCTestCase {
    /// The contract, as a table: packet ↔ bytes.
    let wire: [(ChannelPacket, String)] = [
        (.worker(.ready), "ready"),
        (.worker(.heartbeat), "heartbeat"),
        (.worker(.draining), "draining"),
        (.master(.drain), "drain"),
        (.master(.accept), "accept"),
        (.metricsRequest, "metrics?"),
        (.expositionEnd, "exposition-end"),
        (.metricsReport("# TYPE a counter\na 1\n"), "metrics\n# TYPE a counter\na 1\n"),
        (.metricsReport(""), "metrics\n"),
        (.expositionPart("a 1\n"), "exposition\na 1\n"),
        (.expositionPart(""), "exposition\n"),
    ]

    func testEveryPacketHasItsBytesAndDecodesBackToItself() {
        for (packet, bytes) in self.wire {
            XCTAssertEqual(String(decoding: packet.encoded, as: UTF8.self), bytes, "\(packet)")
            XCTAssertEqual(ChannelPacket(decoding: Array(bytes.utf8)), packet, bytes.debugDescription)
        }
        XCTAssertEqual(
            Set(self.wire.compactMap { if case .worker(let word) = $0.0 { word } else { nil } }),
            Set(WorkerMessage.allCases)
        )
        XCTAssertEqual(
            Set(self.wire.compactMap { if case .master(let word) = $0.0 { word } else { nil } }),
            Set(MasterMessage.allCases)
        )
    }

    /// Text that looks like the framing itself (a first line, a word) is carried, not interpreted.
    func testTextThatLooksLikeFramingRoundTrips() {
        let tricky = [
            "metrics\nexposition\n", "ready", "exposition-end\n", "\n\n", "é ✓ 𝄞\n", "metric{l=\"a b\"} 1 # x\n",
            String(repeating: "x", count: MetricsPackets.limit),
        ]
        for text in tricky {
            for packet in [ChannelPacket.metricsReport(text), .expositionPart(text)] {
                XCTAssertEqual(ChannelPacket(decoding: packet.encoded), packet)
            }
        }
    }

    func testGarbageAndNearMissesDecodeToNil() {
        let garbage: [[UInt8]] = [
            [], Array("Ready".utf8), Array("ready\n".utf8), Array(" heartbeat".utf8), Array("heartbeat ".utf8),
            Array("metrics".utf8), Array("metrics??".utf8), Array("exposition".utf8), Array("exposition-end\n".utf8),
            Array("exposition\r".utf8), Array("metrics\r\nx".utf8), Array("drain\0".utf8), Array("DRAIN".utf8),
            Array("stop".utf8), [0xFF, 0xFE, 0x00], [0x00],
        ]
        for bytes in garbage {
            XCTAssertNil(ChannelPacket(decoding: bytes), "\(bytes)")
        }
        // Seeded noise: never a crash, and only the exact words decode.
        var generator = SplitMix(seed: 20)
        for _ in 0..<2000 {
            let bytes = (0..<Int(generator.next() % 24)).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
            if let packet = ChannelPacket(decoding: bytes) {
                XCTAssertEqual(packet.encoded, bytes, "noise decoded to \(packet)")
            }
        }
    }

    /// A report with bytes that are not UTF-8 is still a report (the bad bytes become U+FFFD), as before.
    func testInvalidUTF8InsideAReportIsReplacedNotDropped() {
        let bytes = Array("metrics\na ".utf8) + [0xFF] + Array(" 1\n".utf8)
        XCTAssertEqual(ChannelPacket(decoding: bytes), .metricsReport("a \u{FFFD} 1\n"))
    }

    /// A long text split into packets, each within the packet size, read back one packet at a time through a real
    /// socketpair, is the text again; a packet that decodes to nil in the middle does not break the sequence.
    func testSplitTextCrossesASocketpairWhole() throws {
        var text = ""
        for family in 0..<40 {
            text += "# HELP f\(family) Family \(family).\n# TYPE f\(family) counter\n"
            for index in 0..<300 {
                text += "f\(family){series=\"\(index)\"} \(index)\n"
            }
        }
        let parts = MetricsPackets.split(text, repeatingHeaders: false)
        XCTAssertGreaterThan(parts.count, 3)
        let packets = parts.map(ChannelPacket.expositionPart) + [.expositionEnd]
        XCTAssertTrue(packets.allSatisfy { $0.encoded.count <= ChannelPacket.maximumSize })

        var pair: [Int32] = [-1, -1]
        XCTAssertEqual(socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue), 0, &pair), 0)
        defer { close(pair[0]); close(pair[1]) }
        let reader = Thread { [receiving = pair[1]] in
            var buffer = [UInt8](repeating: 0, count: ChannelPacket.maximumSize)
            var assembled = ""
            var ended = false
            while !ended, case .packet(let bytes) = ChannelSocket.receive(fd: receiving, into: &buffer, blocking: true) {
                switch ChannelPacket(decoding: bytes) {
                case .expositionPart(let part): assembled += part
                case .expositionEnd: ended = true
                default: break
                }
            }
            ChannelPacketTests.received.withLock { $0 = assembled }
        }
        reader.start()
        XCTAssertTrue(ChannelSocket.send(Array("noise".utf8), fd: pair[0]) == .sent)
        for packet in packets {
            // Blocking here is fine: the reader drains the socket.
            var sent = false
            for _ in 0..<20_000 where !sent {
                sent = ChannelSocket.send(packet, fd: pair[0])
                if !sent { usleep(100) }
            }
            XCTAssertTrue(sent)
        }
        for _ in 0..<2000 where Self.received.withLock({ $0 }) == nil {
            usleep(1000)
        }
        XCTAssertTrue(Self.received.withLock { $0 } == text, "the reassembled text differs")
    }

    func testSendToAClosedPeerIsBrokenAndReceiveSeesTheClose() {
        var pair: [Int32] = [-1, -1]
        XCTAssertEqual(socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue), 0, &pair), 0)
        defer { close(pair[0]) }
        var buffer = [UInt8](repeating: 0, count: ChannelPacket.maximumSize)
        XCTAssertEqual(ChannelSocket.receive(fd: pair[0], into: &buffer, blocking: false), .empty)
        XCTAssertTrue(ChannelSocket.send(.worker(.ready), fd: pair[1]))
        close(pair[1])
        XCTAssertEqual(ChannelSocket.receive(fd: pair[0], into: &buffer, blocking: false), .packet(Array("ready".utf8)))
        XCTAssertEqual(ChannelSocket.receive(fd: pair[0], into: &buffer, blocking: false), .closed)
        XCTAssertEqual(ChannelSocket.send(Array("drain".utf8), fd: pair[0]), .broken(errno: EPIPE))
    }

    private static let received = LockedBox<String?>(nil)
}

/// A deterministic generator for the noise test.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { self.state = seed }
    mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// A value shared with a thread.
final class LockedBox<Value>: @unchecked Sendable {
    private var value: Value
    private let lock = NSLock()
    init(_ value: Value) { self.value = value }
    func withLock<Result>(_ body: (inout Value) -> Result) -> Result {
        self.lock.lock()
        defer { self.lock.unlock() }
        return body(&self.value)
    }
}
