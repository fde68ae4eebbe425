@testable import FOAPProxy
import NIOCore
import XCTest

/// The client side of a Responses socket: whole text messages naming the client's model get the upstream's name;
/// every other frame passes byte for byte, however the bytes are cut into reads.
final class ClientMessageRewriterTests: XCTestCase {
    private func frame(_ opcode: UInt8, _ text: String, fin: Bool = true) -> [UInt8] {
        var bytes = WebSocketTestClient.maskedFrame(opcode: opcode, payload: Array(text.utf8))
        if !fin { bytes[0] &= 0x7F }
        return bytes
    }

    func testOnlyWholeTextMessagesNamingTheModelChangeWhateverTheReads() throws {
        let long = String(repeating: "y", count: 70_000)
        let input: [[UInt8]] = [
            self.frame(0x1, #"{"type":"response.create","model":"alias","input":"a"}"#),
            self.frame(0x9, "ping"),
            self.frame(0x2, #"{"model":"alias"}"#),
            self.frame(0x1, #"{"model":"alias","#, fin: false),
            self.frame(0x0, #""input":"b"}"#),
            self.frame(0x1, #"{"type":"response.create","model":"other"}"#),
            self.frame(0x1, #"{"type":"response.create","model":"alias","input":"\#(long)"}"#),
            self.frame(0x1, "not json"),
        ]
        var expected = input
        expected[0] = self.frame(0x1, #"{"type":"response.create","model":"upstream-name","input":"a"}"#)
        expected[6] = self.frame(0x1, #"{"type":"response.create","model":"upstream-name","input":"\#(long)"}"#)
        let whole = input.flatMap { $0 }
        for cut in [whole.count, 1, 7, 4096] {
            var rewriter = ClientMessageRewriter(model: "alias", targetModel: "upstream-name", limit: 1 << 20)
            var output: [UInt8] = []
            var offset = 0
            while offset < whole.count {
                let end = min(offset + cut, whole.count)
                let written = try rewriter.feed(ByteBuffer(bytes: whole[offset..<end]))
                output += written.readableBytesView
                offset = end
            }
            XCTAssertTrue(output == expected.flatMap { $0 }, "reads of \(cut) bytes")
        }
    }

    func testAFrameOverTheLimitIsRefused() {
        var rewriter = ClientMessageRewriter(model: "alias", targetModel: "up", limit: 100)
        let frame = WebSocketTestClient.maskedFrame(opcode: 0x1, payload: Array(repeating: 0x20, count: 200))
        XCTAssertThrowsError(try rewriter.feed(ByteBuffer(bytes: frame)))
    }
}
