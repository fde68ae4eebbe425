import NIOCore
import XCTest

@testable import FOAPProxy

/// The id trailer (routing by id without a database): what it looks like, that it verifies, and the byte rewriters
/// that put it on answers and take it off requests.
final class IDTrailerTests: XCTestCase {
    let trailer = IDTrailer(secret: Array("fleet-secret-0123456789".utf8))
    let responseID = "resp_67ccd2bed1ec8190b14f964abc0542670bb6a6b452d3795b"

    func testTheTrailerIsShortURLSafeAndKeepsAResponseIDWithin64() {
        let tag = self.trailer.tag(forUpstream: "vllm http://10.0.0.11:8000")
        XCTAssertEqual(tag.count, 3)
        let encoded = self.trailer.encode(self.responseID, tag: tag)
        XCTAssertTrue(encoded.hasPrefix(self.responseID))
        XCTAssertEqual(encoded.count, self.responseID.count + IDTrailer.length)
        XCTAssertLessThanOrEqual(encoded.count, 64)
        XCTAssertTrue(encoded.utf8.allSatisfy { $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-") || ($0 >= 48 && $0 <= 57) || ($0 | 0x20 >= 97 && $0 | 0x20 <= 122) })
        XCTAssertEqual(self.trailer.encode(encoded, tag: tag), encoded, "encoding is idempotent")
        XCTAssertEqual(self.trailer.decode(encoded), .routed(id: self.responseID, tag: tag))
    }

    func testTagsAreStablePerUpstreamAndDifferBetweenThem() {
        let a = self.trailer.tag(forUpstream: "vllm http://10.0.0.11:8000")
        XCTAssertEqual(a, IDTrailer(secret: Array("fleet-secret-0123456789".utf8)).tag(forUpstream: "vllm http://10.0.0.11:8000"))
        XCTAssertNotEqual(a, self.trailer.tag(forUpstream: "vllm http://10.0.0.12:8000"))
    }

    func testAnyChangeToTheIdOrTrailerIsForgedAndOtherSecretsDoNotVerify() {
        let tag = self.trailer.tag(forUpstream: "u")
        let encoded = self.trailer.encode(self.responseID, tag: tag)
        var bytes = Array(encoded.utf8)
        for position in [0, 10, bytes.count - 8, bytes.count - 1] {
            var damaged = bytes
            damaged[position] = damaged[position] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
            XCTAssertEqual(self.trailer.decode(String(decoding: damaged, as: UTF8.self)), .forged, "byte \(position)")
        }
        XCTAssertEqual(IDTrailer(secret: Array("another".utf8)).decode(encoded), .forged)
        bytes = Array("resp_plain_id_without".utf8)
        XCTAssertEqual(self.trailer.decode(String(decoding: bytes, as: UTF8.self)), .plain("resp_plain_id_without"))
        XCTAssertEqual(self.trailer.decode("short"), .plain("short"))
    }

    func testAnswersGetTrailersOnTheIdsTheyHandOutOnly() throws {
        let tag = self.trailer.tag(forUpstream: "u")
        let body = ByteBuffer(string: #"""
            {"id":"resp_abc","object":"response","output":[{"id":"msg_1","type":"message"}],"previous_response_id":null,
             "conversation":{"id":"conv_9"},"data":[{"id":"file-x","purpose":"batch"}],"first_id":"file-x","model":"m"}
            """#)
        let tagged = try XCTUnwrap(IDFieldRewriter.tagOutbound(body, tag: tag, trailer: self.trailer))
        let text = String(buffer: tagged)
        for id in ["resp_abc", "conv_9", "file-x"] {
            XCTAssertTrue(text.contains(#""\#(self.trailer.encode(id, tag: tag))""#), id)
        }
        XCTAssertTrue(text.contains(#""id":"msg_1""#), "item ids are left alone")
        XCTAssertEqual(text.count, String(buffer: body).count + 4 * IDTrailer.length)
        XCTAssertNil(IDFieldRewriter.tagOutbound(ByteBuffer(string: #"{"id":"msg_1"}"#), tag: tag, trailer: self.trailer))
        // A stream event's nested response id.
        let event = ByteBuffer(string: "data: {\"type\":\"response.created\",\"response\":{\"id\":\"resp_abc\"}}\n\n")
        let taggedEvent = try XCTUnwrap(IDFieldRewriter.tagOutbound(event, tag: tag, trailer: self.trailer))
        XCTAssertTrue(String(buffer: taggedEvent).contains(self.trailer.encode("resp_abc", tag: tag)))
    }

    func testRequestsLoseTheirTrailersAndReportTheTagsAndForgeries() throws {
        let tag = self.trailer.tag(forUpstream: "u")
        let id = self.trailer.encode(self.responseID, tag: tag)
        let file = self.trailer.encode("file-abc123", tag: tag)
        let body = ByteBuffer(string: #"{"model":"m","previous_response_id":"\#(id)","input":[{"type":"input_file","file_id":"\#(file)"}]}"#)
        let inbound = IDFieldRewriter.stripInbound(body, trailer: self.trailer)
        XCTAssertEqual(inbound.tags, [tag])
        XCTAssertFalse(inbound.forged)
        XCTAssertEqual(
            inbound.body.map { String(buffer: $0) },
            #"{"model":"m","previous_response_id":"\#(self.responseID)","input":[{"type":"input_file","file_id":"file-abc123"}]}"#)
        var damaged = Array(id.utf8)
        damaged[damaged.count - 1] = damaged.last == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        let forged = IDFieldRewriter.stripInbound(
            ByteBuffer(string: #"{"previous_response_id":"\#(String(decoding: damaged, as: UTF8.self))"}"#),
            trailer: self.trailer)
        XCTAssertTrue(forged.forged)
        let plain = IDFieldRewriter.stripInbound(ByteBuffer(string: #"{"model":"m","input":"hello"}"#), trailer: self.trailer)
        XCTAssertNil(plain.body)
        XCTAssertTrue(plain.tags.isEmpty)
    }
}
