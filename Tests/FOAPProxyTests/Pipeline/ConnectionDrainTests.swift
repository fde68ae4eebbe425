import NIOCore
import NIOEmbedded
import NIOHTTP1
import XCTest

@testable import FOAPProxy

/// `ConnectionDrain` at every point of a request, on an in-memory channel with a virtual clock: no sockets, no
/// waits. `DrainHooks` calls it where `ProxyConnectionHandler` and `ProxyExchange` do.
final class ConnectionDrainTests: XCTestCase {
    private let grace = TimeAmount.milliseconds(500)
    private var channel: EmbeddedChannel!
    private var loop: EmbeddedEventLoop { self.channel.embeddedEventLoop }
    private var recorder: EventRecorder!

    override func setUpWithError() throws {
        self.recorder = EventRecorder()
        self.channel = EmbeddedChannel()
        try self.channel.pipeline.syncOperations.addHandler(DrainHooks(ConnectionDrain(idleGrace: self.grace)))
        try self.channel.pipeline.syncOperations.addHandler(self.recorder)
        try self.channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
    }

    override func tearDownWithError() throws {
        _ = try? self.channel.finish(acceptAlreadyClosed: true)
        self.channel = nil
        self.recorder = nil
    }

    // MARK: helpers

    private func receiveRequest(_ uri: String = "/v1/models") throws {
        try self.channel.writeInbound(
            HTTPServerRequestPart.head(HTTPRequestHead(version: .http1_1, method: .GET, uri: uri)))
        try self.channel.writeInbound(HTTPServerRequestPart.end(nil))
    }

    private func quiesce() {
        self.channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
    }

    /// Writes a response head and returns the head that left the handler.
    @discardableResult
    private func respondHead(status: HTTPResponseStatus = .ok, headers: HTTPHeaders = [:]) throws -> HTTPResponseHead {
        try self.channel.writeOutbound(
            HTTPServerResponsePart.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers)))
        guard case .head(let head) = try self.channel.readOutbound(as: HTTPServerResponsePart.self) else {
            XCTFail("no head written")
            return HTTPResponseHead(version: .http1_1, status: .internalServerError)
        }
        return head
    }

    private func respondBodyAndEnd() throws {
        try self.channel.writeOutbound(HTTPServerResponsePart.body(.byteBuffer(ByteBuffer(string: "{}"))))
        try self.channel.writeOutbound(HTTPServerResponsePart.end(nil))
        while try self.channel.readOutbound(as: HTTPServerResponsePart.self) != nil {}
    }

    private func respondWhole(headers: HTTPHeaders = [:]) throws -> HTTPResponseHead {
        let head = try self.respondHead(headers: headers)
        try self.respondBodyAndEnd()
        return head
    }

    // MARK: tests

    func testWithoutDrainNothingChanges() throws {
        try self.receiveRequest()
        let head = try self.respondWhole()
        XCTAssertFalse(head.headers.contains(name: "connection"))
        self.loop.advanceTime(by: .seconds(3600))
        XCTAssertTrue(self.channel.isActive)
    }

    /// Replaces the channel with one whose handler has a keep-alive timeout.
    private func useKeepAliveTimeout(_ timeout: TimeAmount) throws {
        _ = try? self.channel.finish(acceptAlreadyClosed: true)
        self.recorder = EventRecorder()
        self.channel = EmbeddedChannel()
        try self.channel.pipeline.syncOperations.addHandler(
            DrainHooks(ConnectionDrain(idleGrace: self.grace, keepAliveTimeout: timeout))
        )
        try self.channel.pipeline.syncOperations.addHandler(self.recorder)
        try self.channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
    }

    func testIdleKeepAliveConnectionIsClosedAfterTheTimeout() throws {
        try self.useKeepAliveTimeout(.seconds(10))
        self.loop.advanceTime(by: .seconds(9))
        try self.receiveRequest()
        _ = try self.respondWhole()
        self.loop.advanceTime(by: .seconds(9))
        XCTAssertTrue(self.channel.isActive, "the timer restarts after every response")
        self.loop.advanceTime(by: .seconds(1))
        XCTAssertFalse(self.channel.isActive)
    }

    func testKeepAliveTimeoutNeverCutsARequestInFlight() throws {
        try self.useKeepAliveTimeout(.seconds(10))
        try self.receiveRequest()
        self.loop.advanceTime(by: .seconds(60))
        XCTAssertTrue(self.channel.isActive, "a long stream is not idle")
        _ = try self.respondWhole()
        self.loop.advanceTime(by: .seconds(10))
        XCTAssertFalse(self.channel.isActive)
    }

    func testQuiesceWhileIdleClosesOnlyAfterTheIdleGrace() throws {
        try self.receiveRequest()
        _ = try self.respondWhole()
        self.quiesce()
        XCTAssertTrue(self.channel.isActive, "an idle connection must not be closed at once (keep-alive race)")
        self.loop.advanceTime(by: self.grace - .nanoseconds(1))
        XCTAssertTrue(self.channel.isActive)
        self.loop.advanceTime(by: .nanoseconds(1))
        XCTAssertFalse(self.channel.isActive)
    }

    func testQuiesceOnAFreshConnectionClosesAfterTheGrace() {
        self.quiesce()
        XCTAssertTrue(self.channel.isActive)
        self.loop.advanceTime(by: self.grace)
        XCTAssertFalse(self.channel.isActive)
    }

    func testQuiesceMidRequestAnswersWithConnectionCloseAndClosesAfterTheEnd() throws {
        try self.channel.writeInbound(
            HTTPServerRequestPart.head(HTTPRequestHead(version: .http1_1, method: .POST, uri: "/x")))
        self.quiesce()
        self.loop.advanceTime(by: self.grace * 4)
        XCTAssertTrue(self.channel.isActive, "a request in flight is never cut by the idle grace")
        try self.channel.writeInbound(HTTPServerRequestPart.body(ByteBuffer(string: "{}")))
        try self.channel.writeInbound(HTTPServerRequestPart.end(nil))
        let head = try self.respondHead(headers: ["Connection": "keep-alive", "Content-Type": "application/json"])
        XCTAssertEqual(head.headers["connection"], ["close"])
        XCTAssertEqual(head.headers["content-type"], ["application/json"])
        try self.channel.writeOutbound(HTTPServerResponsePart.body(.byteBuffer(ByteBuffer(string: "data: 1\n\n"))))
        XCTAssertTrue(self.channel.isActive, "the response is still being written")
        try self.channel.writeOutbound(HTTPServerResponsePart.end(nil))
        XCTAssertFalse(self.channel.isActive, "closed right after the response's end")
    }

    func testResponseHeadAlreadySentWithoutCloseGetsTheIdleGraceAfterItsEnd() throws {
        try self.receiveRequest()
        let head = try self.respondHead()
        XCTAssertFalse(head.headers.contains(name: "connection"))
        self.quiesce()
        try self.respondBodyAndEnd()
        XCTAssertTrue(self.channel.isActive, "the client was not told to close, so it may send one more request")
        self.loop.advanceTime(by: self.grace)
        XCTAssertFalse(self.channel.isActive)
    }

    func testRequestDuringTheGraceIsServedWithConnectionClose() throws {
        self.quiesce()
        self.loop.advanceTime(by: .milliseconds(250))
        try self.receiveRequest()
        self.loop.advanceTime(by: self.grace * 2)
        XCTAssertTrue(self.channel.isActive, "the idle timer stops once a request arrives")
        let head = try self.respondWhole()
        XCTAssertEqual(head.headers["connection"], ["close"])
        XCTAssertFalse(self.channel.isActive)
    }

    func testResponseThatAlreadySaysCloseIsClosedAfterItsEndWhileDraining() throws {
        try self.receiveRequest()
        self.quiesce()
        let head = try self.respondWhole(headers: ["Connection": "Close"])
        XCTAssertEqual(head.headers["connection"], ["close"])
        XCTAssertFalse(self.channel.isActive)
    }

    func testPipelinedRequestsAreAllAnsweredAndOnlyTheLastSaysClose() throws {
        try self.receiveRequest("/a")
        try self.receiveRequest("/b")
        self.quiesce()
        let first = try self.respondWhole()
        XCTAssertTrue(self.channel.isActive, "a request already received must still be answered")
        XCTAssertFalse(first.headers["connection"].contains("close"))
        let second = try self.respondWhole()
        XCTAssertEqual(second.headers["connection"], ["close"])
        XCTAssertFalse(self.channel.isActive)
    }

    func testInformationalHeadIsNotTouched() throws {
        try self.channel.writeInbound(
            HTTPServerRequestPart.head(HTTPRequestHead(version: .http1_1, method: .POST, uri: "/x")))
        self.quiesce()
        let interim = try self.respondHead(status: .continue)
        XCTAssertFalse(interim.headers.contains(name: "connection"))
        XCTAssertTrue(self.channel.isActive)
        try self.channel.writeInbound(HTTPServerRequestPart.end(nil))
        let final = try self.respondWhole()
        XCTAssertEqual(final.headers["connection"], ["close"])
        XCTAssertFalse(self.channel.isActive)
    }

    func testQuiesceEventIsConsumedAndOthersPassThrough() throws {
        self.quiesce()
        self.quiesce()  // a second one neither re-arms nor leaks through
        self.channel.pipeline.fireUserInboundEventTriggered("other")
        XCTAssertEqual(self.recorder.events, ["other"])
        try self.receiveRequest()
        XCTAssertEqual(self.recorder.requestParts, 2)
    }

    func testClosingDuringTheGraceCancelsTheTimer() throws {
        self.quiesce()
        try self.channel.close().wait()
        self.loop.advanceTime(by: self.grace * 2)  // the cancelled timer must not close twice
        XCTAssertFalse(self.channel.isActive)
    }
}

/// The drain as the connection handler drives it: request heads counted as they arrive, the quiesce event
/// consumed, final heads through `prepare`, every `.end` through `writeEnd`.
private final class DrainHooks: ChannelDuplexHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private let drain: ConnectionDrain

    init(_ drain: ConnectionDrain) {
        self.drain = drain
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive {
            self.drain.connectionActive(context: context)
        }
    }

    func channelActive(context: ChannelHandlerContext) {
        self.drain.connectionActive(context: context)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head = self.unwrapInboundIn(data) {
            self.drain.requestArrived()
        }
        context.fireChannelRead(data)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard event is ChannelShouldQuiesceEvent else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        self.drain.quiesce(context: context)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch self.unwrapOutboundIn(data) {
        case .head(var head):
            self.drain.prepare(&head)
            context.write(self.wrapOutboundOut(.head(head)), promise: promise)
        case .end:
            self.drain.writeEnd(output: EndWriter(context: context), context: context, promise: promise)
        case .body:
            context.write(data, promise: promise)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.drain.connectionInactive()
        context.fireChannelInactive()
    }
}

/// Writes the `.end` as a part, for the test to read back.
private struct EndWriter: ResponseEndWriting {
    let context: ChannelHandlerContext

    func writeAndFlushEnd(promise: EventLoopPromise<Void>?) {
        self.context.writeAndFlush(NIOAny(HTTPServerResponsePart.end(nil)), promise: promise)
    }
}

/// Records what passes the drain.
private final class EventRecorder: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    var events: [String] = []
    var requestParts = 0

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        self.requestParts += 1
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        self.events.append(String(describing: event))
    }
}
