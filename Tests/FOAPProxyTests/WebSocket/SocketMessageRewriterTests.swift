@testable import FOAPProxy
import NIOCore
import WebSocketTestSupport
import XCTest

/// One direction of a Responses socket: whole text messages get their model and ids rewritten; every other frame
/// passes byte for byte, however the bytes are cut into reads.
final class SocketMessageRewriterTests: XCTestCase {
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
            self.frame(0x1, #"{"type":"response.create","model":"upstream-name"}"#),
            self.frame(0x1, #"{"type":"response.cancel"}"#),
            self.frame(0x1, #"{"type":"response.create","model":"alias","input":"\#(long)"}"#),
            self.frame(0x1, "not json"),
        ]
        var expected = input
        expected[0] = self.frame(0x1, #"{"type":"response.create","model":"upstream-name","input":"a"}"#)
        expected[4] = self.frame(0x1, #"{"type":"response.create","model":"upstream-name","input":"\#(long)"}"#)
        let whole = input.flatMap { $0 }
        for cut in [whole.count, 1, 7, 4096] {
            var rewriter = SocketMessageRewriter([.model("alias", targetModel: "upstream-name")], limit: 1 << 20)
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

    /// The key was checked for the socket's model, and the upstream runs what a message names: a client's message
    /// naming another model, or one foap cannot read whole, never goes up.
    func testTheClientsMessagesAreHeldToTheSocketsModel() throws {
        var compressed = self.frame(0x1, #"{"model":"alias"}"#)
        compressed[0] |= 0x40
        let refused: [(String, [UInt8])] = [
            ("another model", self.frame(0x1, #"{"type":"response.create","model":"other"}"#)),
            ("the last of two", self.frame(0x1, #"{"model":"alias","model":"other"}"#)),
            ("other letter case", self.frame(0x1, #"{"model":"alias","Model":"other"}"#)),
            ("not a string", self.frame(0x1, #"{"model":1,"model":"alias"}"#)),
            ("binary", self.frame(0x2, #"{"model":"other"}"#)),
            ("fragmented", self.frame(0x1, #"{"model":"oth"#, fin: false) + self.frame(0x0, #"er"}"#)),
            ("a reserved bit", compressed),
        ]
        for (name, bytes) in refused {
            var rewriter = SocketMessageRewriter([.model("alias", targetModel: "up")], limit: 1 << 20)
            let ping = self.frame(0x9, "ping")
            let before = self.frame(0x1, #"{"model":"alias"}"#)
            // In one read: what comes before the refused message goes on (rewritten), nothing after it.
            let output = try rewriter.feed(ByteBuffer(bytes: ping + before + bytes + ping))
            XCTAssertEqual(Array(output.readableBytesView), ping + self.frame(0x1, #"{"model":"up"}"#), name)
            XCTAssertEqual(rewriter.refusal?.error.status.code, 400, name)
            XCTAssertEqual(try rewriter.feed(ByteBuffer(bytes: before)).readableBytes, 0, name)
        }
        // The upstream's side carries what it sends, binary and fragments included.
        var down = SocketMessageRewriter([], limit: 1 << 20)
        let binary = WebSocketTestClient.maskedFrame(opcode: 0x2, payload: Array("x".utf8))
        XCTAssertEqual(Array((try? down.feed(ByteBuffer(bytes: binary)))?.readableBytesView ?? []), binary)
    }

    func testIdsGetThisUpstreamsTrailerOnTheWayOutAndLoseItOnTheWayIn() throws {
        let trailer = IDTrailer(secret: Array("a secret of enough bytes for the test".utf8))
        let (tag, otherTag) = (trailer.tag(forUpstream: "vllm http://a:8000"), trailer.tag(forUpstream: "vllm http://b:8000"))
        let tagged = trailer.encode("resp_abc", tag: tag)
        var down = SocketMessageRewriter([.tagIDs(tag: tag, trailer: trailer)], limit: 1 << 20)
        let event = #"{"type":"response.created","response":{"id":"resp_abc","object":"response"}}"#
        let sent = try down.feed(ByteBuffer(bytes: [0x81, UInt8(event.utf8.count)] + Array(event.utf8)))
        let expected = #"{"type":"response.created","response":{"id":"\#(tagged)","object":"response"}}"#
        XCTAssertEqual(Array(sent.readableBytesView), [0x81, UInt8(expected.utf8.count)] + Array(expected.utf8))

        var up = SocketMessageRewriter(
            [.model("alias", targetModel: "up"), .stripIDs(tag: tag, trailer: trailer)], limit: 1 << 20)
        let next = try up.feed(ByteBuffer(bytes: self.frame(
            0x1, #"{"type":"response.create","model":"alias","previous_response_id":"\#(tagged)"}"#)))
        XCTAssertEqual(
            Array(next.readableBytesView),
            self.frame(0x1, #"{"type":"response.create","model":"up","previous_response_id":"resp_abc"}"#))
        // Another upstream's id passes as sent: that upstream does not know it, and says so.
        let other = trailer.encode("resp_abc", tag: otherTag)
        let foreign = self.frame(0x1, #"{"type":"response.create","previous_response_id":"\#(other)"}"#)
        XCTAssertEqual(Array(try up.feed(ByteBuffer(bytes: foreign)).readableBytesView), foreign)
    }

    func testAFrameOverTheLimitIsRefused() {
        var rewriter = SocketMessageRewriter([.model("alias", targetModel: "up")], limit: 100)
        let frame = WebSocketTestClient.maskedFrame(opcode: 0x1, payload: Array(repeating: 0x20, count: 200))
        XCTAssertThrowsError(try rewriter.feed(ByteBuffer(bytes: frame)))
    }
}
