import NIOCore
import NIOEmbedded
import NIOHTTP1
import XCTest

@testable import FOAPHTTP1

/// `HTTPServerCodec` on an `EmbeddedChannel`: the bytes of its responses against NIO's paired decoder and encoder
/// (the client connection's codec before), the parser's limits, and bytes after an upgrade.
final class HTTPServerCodecTests: XCTestCase {
    private struct Exchange {
        var request: String
        var response: [HTTPServerResponsePart]
    }

    private static func head(
        _ status: HTTPResponseStatus, _ headers: [(String, String)], version: HTTPVersion = .http1_1
    ) -> HTTPServerResponsePart {
        .head(HTTPResponseHead(version: version, status: status, headers: HTTPHeaders(headers)))
    }

    private static func body(_ text: String) -> HTTPServerResponsePart {
        .body(.byteBuffer(ByteBuffer(string: text)))
    }

    private static let exchanges: [(String, Exchange)] = [
        (
            "sized", Exchange(request: "GET / HTTP/1.1\r\n\r\n", response: [
                head(.ok, [("Content-Type", "application/json"), ("Content-Length", "2")]), body("{}"), .end(nil),
            ])
        ),
        (
            "sized, a stray transfer-encoding", Exchange(request: "GET / HTTP/1.1\r\n\r\n", response: [
                head(.ok, [("Transfer-Encoding", "chunked"), ("content-length", "2")]), body("{}"), .end(nil),
            ])
        ),
        (
            "chunked stream", Exchange(request: "POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n", response: [
                head(.ok, [("Content-Type", "text/event-stream")]), body("data: 1\n\n"),
                body(String(repeating: "x", count: 5000)), body(""), body("data: [DONE]\n\n"), .end(nil),
            ])
        ),
        (
            "chunked with trailers", Exchange(request: "GET / HTTP/1.1\r\n\r\n", response: [
                head(.ok, [("X-A", "1")]), body("abc"), .end(HTTPHeaders([("X-Sum", "3")])),
            ])
        ),
        (
            "an upstream's chunked framing replaced", Exchange(request: "GET / HTTP/1.1\r\n\r\n", response: [
                head(.ok, [("Transfer-Encoding", "gzip"), ("X-B", "2")]), body("abc"), .end(nil),
            ])
        ),
        (
            "HTTP/1.0 close-delimited", Exchange(request: "GET / HTTP/1.0\r\n\r\n", response: [
                head(.ok, [("Transfer-Encoding", "chunked")], version: .http1_0), body("abc"), .end(nil),
            ])
        ),
        (
            "HEAD keeps its framing fields", Exchange(request: "HEAD / HTTP/1.1\r\n\r\n", response: [
                head(.ok, [("Content-Type", "application/json")]), .end(nil),
            ])
        ),
        (
            "204 without framing", Exchange(request: "DELETE /x HTTP/1.1\r\n\r\n", response: [
                head(.noContent, [("Content-Length", "0"), ("Transfer-Encoding", "chunked")]), .end(nil),
            ])
        ),
        (
            "100-continue then the answer", Exchange(request: "POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n", response: [
                head(.continue, []), head(.ok, [("Content-Length", "1")]), body("x"), .end(nil),
            ])
        ),
        (
            "101", Exchange(request: "GET / HTTP/1.1\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n", response: [
                head(.switchingProtocols, [("Upgrade", "websocket"), ("Connection", "Upgrade")]),
            ])
        ),
        (
            "a custom status", Exchange(request: "GET / HTTP/1.1\r\n\r\n", response: [
                head(.custom(code: 529, reasonPhrase: "Site Overloaded"), [("Content-Length", "0")]), .end(nil),
            ])
        ),
    ]

    private func wireBytes(of exchange: Exchange, nio: Bool) throws -> String {
        let channel = EmbeddedChannel()
        if nio {
            try channel.pipeline.syncOperations.configureHTTPServerPipeline(
                withPipeliningAssistance: false, withErrorHandling: false, withOutboundHeaderValidation: false,
                withEncoderConfiguration: .init()
            )
        } else {
            try channel.pipeline.syncOperations.addHandler(HTTPServerCodec())
        }
        try channel.writeInbound(ByteBuffer(string: exchange.request))
        for part in exchange.response {
            try channel.writeOutbound(part)
        }
        var wire = ""
        while let data = try channel.readOutbound(as: IOData.self) {
            guard case .byteBuffer(let buffer) = data else { throw ChannelError.ioOnClosedChannel }
            wire += String(buffer: buffer)
        }
        _ = try? channel.finish()
        return wire
    }

    func testResponsesAreTheBytesNIOsEncoderWrote() throws {
        for (name, exchange) in Self.exchanges {
            let ours = try self.wireBytes(of: exchange, nio: false)
            let theirs = try self.wireBytes(of: exchange, nio: true)
            XCTAssertEqual(ours, theirs, name)
            XCTAssertFalse(ours.isEmpty, name)
        }
    }

    func testABodyForAHeadRequestIsRefusedAndNotWritten() throws {
        let channel = EmbeddedChannel(handler: HTTPServerCodec())
        try channel.writeInbound(ByteBuffer(string: "HEAD / HTTP/1.1\r\n\r\n"))
        try channel.writeOutbound(Self.head(.ok, [("Content-Length", "5")]))
        XCTAssertThrowsError(try channel.writeOutbound(Self.body("hello")))
        try channel.writeOutbound(HTTPServerResponsePart.end(nil))
        var wire = ""
        while let data = try channel.readOutbound(as: IOData.self) {
            if case .byteBuffer(let buffer) = data { wire += String(buffer: buffer) }
        }
        XCTAssertEqual(wire, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n")
    }

    func testAHeadOverTheLimitIsRefusedBeforeItEnds() {
        let limits = HTTPRequestParser.Limits(maxHeaderListSize: 1024, maxHeadSize: 2048)
        let channel = EmbeddedChannel(handler: HTTPServerCodec(limits: limits))
        XCTAssertNoThrow(try channel.writeInbound(ByteBuffer(string: "GET / HTTP/1.1\r\nX: ")))
        XCTAssertThrowsError(try channel.writeInbound(ByteBuffer(string: String(repeating: "a", count: 2100)))) {
            XCTAssertEqual($0 as? HTTPParserError, .headerOverflow)
        }
        let fields = (0..<40).map { "X-\($0): \(String(repeating: "v", count: 30))\r\n" }.joined()
        let other = EmbeddedChannel(handler: HTTPServerCodec(limits: limits))
        XCTAssertThrowsError(try other.writeInbound(ByteBuffer(string: "GET / HTTP/1.1\r\n\(fields)\r\n"))) {
            XCTAssertEqual($0 as? HTTPParserError, .headerOverflow)
        }
    }

    func testBytesAfterAnUpgradeReachTheNextHandlerWhenTheCodecLeaves() throws {
        let codec = HTTPServerCodec()
        let channel = EmbeddedChannel(handler: codec)
        try channel.writeInbound(ByteBuffer(string: "GET /ws HTTP/1.1\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\nab"))
        try channel.writeInbound(ByteBuffer(string: "cd"))
        guard case .head = try channel.readInbound(as: HTTPServerRequestPart.self),
            case .end = try channel.readInbound(as: HTTPServerRequestPart.self)
        else { return XCTFail("no request") }
        XCTAssertNil(try channel.readInbound(as: HTTPServerRequestPart.self))
        try channel.pipeline.syncOperations.removeHandler(codec).wait()
        XCTAssertEqual(try channel.readInbound(as: ByteBuffer.self).map { String(buffer: $0) }, "abcd")
    }
}
