import FOAPConfig
import Foundation
import Logging
import NIOCore
import NIOEmbedded
import NIOHTTP1
import NIOPosix
import XCTest

@testable import FOAPProxy

/// `ProxyConnectionHandler` alone on an `EmbeddedChannel`: request bytes in, response bytes out (read back through
/// NIO's response decoder), time moved by hand — pipelining order, keep-alive, and the body timeout without
/// waiting for it.
final class ProxyConnectionHandlerTests: XCTestCase {
    private var group: MultiThreadedEventLoopGroup!
    private var engine: ProxyEngine!
    private var directory: URL!
    /// Reads the bytes the handler wrote back as response parts.
    private var decoder: EmbeddedChannel!

    override func setUp() async throws {
        self.directory = FileManager.default.temporaryDirectory.appendingPathComponent("foap-handler-\(UUID())")
        try FileManager.default.createDirectory(at: self.directory, withIntermediateDirectories: true)
        try ProxyHarness.defaultConfig("http://127.0.0.1:9").write(
            to: self.directory.appendingPathComponent("mock.json"), atomically: true, encoding: .utf8)
        let snapshot = try ConfigLoader(directory: self.directory.path, environment: [:]).load()
        var configuration = ProxyConfiguration()
        configuration.bodyTimeout = .seconds(60)
        self.group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        self.engine = try ProxyEngine(
            snapshot: snapshot, configuration: configuration, eventLoopGroup: self.group,
            logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
    }

    override func tearDown() async throws {
        try await self.engine.shutdown()
        try await self.group.shutdownGracefully()
        try? FileManager.default.removeItem(at: self.directory)
    }

    private func channel() throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(ProxyConnectionHandler(engine: self.engine))
        self.decoder = EmbeddedChannel(handler: ByteToMessageHandler(HTTPResponseDecoder()))
        for _ in 0..<8 {  // the decoder reads only answers to requests it saw go out (none of these is a HEAD)
            try self.decoder.writeOutbound(HTTPClientRequestPart.head(HTTPRequestHead(version: .http1_1, method: .GET, uri: "/")))
        }
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 4242)).wait()
        return channel
    }

    private func head(_ method: HTTPMethod, _ uri: String, _ headers: [(String, String)] = []) -> HTTPServerRequestPart {
        .head(HTTPRequestHead(version: .http1_1, method: method, uri: uri, headers: HTTPHeaders([("Host", "x")] + headers)))
    }

    /// Writes a request part as the client's bytes (the handler parses them): a head as its lines, a body part as
    /// it is, an end as nothing (these requests are sized or have no body).
    private func send(_ channel: EmbeddedChannel, _ part: HTTPServerRequestPart) throws {
        switch part {
        case .head(let head):
            let fields = head.headers.map { "\($0.name): \($0.value)\r\n" }.joined()
            try channel.writeInbound(ByteBuffer(string: "\(head.method.rawValue) \(head.uri) HTTP/1.1\r\n\(fields)\r\n"))
        case .body(let buffer):
            try channel.writeInbound(buffer)
        case .end:
            break
        }
    }

    /// The next whole response written: status and body.
    private func response(_ channel: EmbeddedChannel) throws -> (status: UInt, body: String)? {
        try self.decodeWritten(channel)
        guard case .head(let head) = try self.decoder.readInbound(as: HTTPClientResponsePart.self) else { return nil }
        var body = ""
        while let part = try self.decoder.readInbound(as: HTTPClientResponsePart.self) {
            switch part {
            case .body(let buffer): body += String(buffer: buffer)
            case .end: return (head.status.code, body)
            case .head: continue
            }
        }
        return nil
    }

    /// Hands what the handler wrote so far to the decoder; true when there was something.
    @discardableResult
    private func decodeWritten(_ channel: EmbeddedChannel) throws -> Bool {
        var wrote = false
        while let data = try channel.readOutbound(as: IOData.self) {
            guard case .byteBuffer(let buffer) = data else { continue }
            wrote = wrote || buffer.readableBytes > 0
            try self.decoder.writeInbound(buffer)
        }
        return wrote
    }

    func testPipelinedRequestsAreAnsweredInOrderOnOneConnection() throws {
        let channel = try self.channel()
        try self.send(channel, self.head(.GET, "/health"))
        try self.send(channel, HTTPServerRequestPart.end(nil))
        try self.send(channel, self.head(.GET, "/v1/nothing"))
        try self.send(channel, HTTPServerRequestPart.end(nil))
        try self.send(channel, self.head(.GET, "/v1/models"))
        try self.send(channel, HTTPServerRequestPart.end(nil))
        XCTAssertEqual(try self.response(channel)?.status, 200)
        XCTAssertEqual(try self.response(channel)?.status, 404)
        let models = try XCTUnwrap(try self.response(channel))
        XCTAssertEqual(models.status, 200)
        XCTAssertTrue(models.body.contains("gpt-test"), models.body)
        XCTAssertTrue(channel.isActive, "keep-alive")
    }

    /// A body that stops arriving is answered 408 once `bodyTimeout` has passed on the loop's clock, and the
    /// connection closes; a minute earlier nothing happens.
    func testABodyThatStopsArrivingTimesOutOnTheLoopsClock() throws {
        let channel = try self.channel()
        try self.send(channel, self.head(.POST, "/v1/chat/completions", [("Content-Length", "100")]))
        try self.send(channel, HTTPServerRequestPart.body(ByteBuffer(string: "{\"model\":")))
        channel.pipeline.fireChannelReadComplete()
        channel.embeddedEventLoop.advanceTime(by: .seconds(59))
        XCTAssertFalse(try self.decodeWritten(channel))
        channel.embeddedEventLoop.advanceTime(by: .seconds(1))
        let answer = try XCTUnwrap(try self.response(channel))
        XCTAssertEqual(answer.status, 408)
        XCTAssertTrue(answer.body.contains("request_timeout"), answer.body)
        XCTAssertFalse(channel.isActive, "closed after the answer")
    }

    /// Bytes arriving now and then keep the body alive, however long it takes overall.
    func testEveryReadRestartsTheBodyClock() throws {
        let channel = try self.channel()
        try self.send(channel, self.head(.POST, "/v1/chat/completions", [("Content-Length", "1000")]))
        for _ in 0..<5 {
            try self.send(channel, HTTPServerRequestPart.body(ByteBuffer(string: "x")))
            channel.pipeline.fireChannelReadComplete()
            channel.embeddedEventLoop.advanceTime(by: .seconds(50))
        }
        XCTAssertFalse(try self.decodeWritten(channel), "no timeout: 50 s gaps are allowed")
    }
}
