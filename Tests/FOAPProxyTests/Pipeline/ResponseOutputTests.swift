import NIOCore
import NIOEmbedded
import NIOHTTP1
import XCTest

@testable import FOAPProxy

/// `ResponseOutput` on an `EmbeddedChannel`: the bytes of its answers against NIO's paired decoder and encoder
/// (what the client connection used before), gathering, and the order of writes and promises.
final class ResponseOutputTests: XCTestCase {
    private struct Exchange {
        var request: String
        var method: HTTPMethod
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

    private static let large = String(repeating: "x", count: ResponseOutput.copyLimit + 1)

    private static let exchanges: [(String, Exchange)] = [
        (
            "sized", Exchange(request: "GET / HTTP/1.1\r\n\r\n", method: .GET, response: [
                head(.ok, [("Content-Type", "application/json"), ("Content-Length", "2")]), body("{}"), .end(nil),
            ])
        ),
        (
            "sized, a stray transfer-encoding", Exchange(request: "GET / HTTP/1.1\r\n\r\n", method: .GET, response: [
                head(.ok, [("Transfer-Encoding", "chunked"), ("content-length", "2")]), body("{}"), .end(nil),
            ])
        ),
        (
            "sized, larger than what is copied", Exchange(request: "GET / HTTP/1.1\r\n\r\n", method: .GET, response: [
                head(.ok, [("Content-Length", "\(large.utf8.count)")]), body(large), .end(nil),
            ])
        ),
        (
            "chunked stream", Exchange(
                request: "POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n", method: .POST, response: [
                    head(.ok, [("Content-Type", "text/event-stream")]), body("data: 1\n\n"), body(large), body(""),
                    body("data: [DONE]\n\n"), .end(nil),
                ])
        ),
        (
            "chunked with trailers", Exchange(request: "GET / HTTP/1.1\r\n\r\n", method: .GET, response: [
                head(.ok, [("X-A", "1")]), body("abc"), .end(HTTPHeaders([("X-Sum", "3")])),
            ])
        ),
        (
            "an upstream's chunked framing replaced", Exchange(request: "GET / HTTP/1.1\r\n\r\n", method: .GET, response: [
                head(.ok, [("Transfer-Encoding", "gzip"), ("X-B", "2")]), body("abc"), .end(nil),
            ])
        ),
        (
            "HTTP/1.0 close-delimited", Exchange(request: "GET / HTTP/1.0\r\n\r\n", method: .GET, response: [
                head(.ok, [("Transfer-Encoding", "chunked")], version: .http1_0), body("abc"), .end(nil),
            ])
        ),
        (
            "HEAD keeps its framing fields", Exchange(request: "HEAD / HTTP/1.1\r\n\r\n", method: .HEAD, response: [
                head(.ok, [("Content-Type", "application/json")]), .end(nil),
            ])
        ),
        (
            "204 without framing", Exchange(request: "DELETE /x HTTP/1.1\r\n\r\n", method: .DELETE, response: [
                head(.noContent, [("Content-Length", "0"), ("Transfer-Encoding", "chunked")]), .end(nil),
            ])
        ),
        (
            "100-continue then the answer", Exchange(
                request: "POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n", method: .POST, response: [
                    head(.continue, []), head(.ok, [("Content-Length", "1")]), body("x"), .end(nil),
                ])
        ),
        (
            "101", Exchange(
                request: "GET / HTTP/1.1\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n", method: .GET,
                response: [head(.switchingProtocols, [("Upgrade", "websocket"), ("Connection", "Upgrade")])])
        ),
        (
            "a custom status", Exchange(request: "GET / HTTP/1.1\r\n\r\n", method: .GET, response: [
                head(.custom(code: 529, reasonPhrase: "Site Overloaded"), [("Content-Length", "0")]), .end(nil),
            ])
        ),
    ]

    /// Hands its context to a `ResponseOutput`, as `ProxyConnectionHandler` does.
    private final class OutputHost: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        var output: ResponseOutput?
        private let flushBatch: LoopFlushBatch?

        init(flushBatch: LoopFlushBatch? = nil) {
            self.flushBatch = flushBatch
        }

        func handlerAdded(context: ChannelHandlerContext) {
            self.output = ResponseOutput(context: context, buffers: BufferRecycler(), flushBatch: self.flushBatch)
        }
    }

    /// An output whose keep-alive ends wait for its loop's batch (`EmbeddedEventLoop.run()` flushes them).
    private static func batchedOutput() throws -> (EmbeddedEventLoop, EmbeddedChannel, ResponseOutput) {
        let loop = EmbeddedEventLoop()
        let host = OutputHost(flushBatch: LoopFlushBatch(eventLoop: loop))
        let channel = EmbeddedChannel(handler: host, loop: loop)
        return (loop, channel, try XCTUnwrap(host.output))
    }

    /// A GET's answer of two bytes, `body`, and its end (nobody waits for it unless `endPromise`).
    private static func writeSmallAnswer(
        _ body: String, to output: ResponseOutput, endPromise: EventLoopPromise<Void>? = nil
    ) {
        output.requestRead(.GET)
        output.write(Self.head(.ok, [("Content-Length", "2")]), promise: nil)
        output.write(.body(.byteBuffer(ByteBuffer(string: body))), promise: nil)
        output.writeAndFlushEnd(promise: endPromise)
    }

    private static func written(_ channel: EmbeddedChannel) throws -> [String] {
        var writes: [String] = []
        while let data = try channel.readOutbound(as: IOData.self) {
            guard case .byteBuffer(let buffer) = data else { throw ChannelError.ioOnClosedChannel }
            writes.append(String(buffer: buffer))
        }
        return writes
    }

    private func nioBytes(of exchange: Exchange) throws -> String {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.configureHTTPServerPipeline(
            withPipeliningAssistance: false, withErrorHandling: false, withOutboundHeaderValidation: false,
            withEncoderConfiguration: .init()
        )
        try channel.writeInbound(ByteBuffer(string: exchange.request))
        for part in exchange.response {
            try channel.writeOutbound(part)
        }
        defer { _ = try? channel.finish() }
        return try Self.written(channel).joined()
    }

    /// The writes `ResponseOutput` made for the exchange, the whole answer flushed at its end.
    private func outputWrites(of exchange: Exchange) throws -> [String] {
        let host = OutputHost()
        let channel = EmbeddedChannel(handler: host)
        let output = try XCTUnwrap(host.output)
        output.requestRead(exchange.method)
        for part in exchange.response {
            output.write(part, promise: nil)
        }
        output.flush()
        defer { _ = try? channel.finish() }
        return try Self.written(channel)
    }

    func testAnswersAreTheBytesNIOsEncoderWrote() throws {
        for (name, exchange) in Self.exchanges {
            let ours = try self.outputWrites(of: exchange).joined()
            XCTAssertEqual(ours, try self.nioBytes(of: exchange), name)
            XCTAssertFalse(ours.isEmpty, name)
        }
    }

    func testASmallAnswerLeavesInOneWriteAndALargeBodyWithoutACopy() throws {
        let small = try self.outputWrites(of: Self.exchanges[0].1)
        XCTAssertEqual(small, ["HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"])
        let large = try self.outputWrites(of: Self.exchanges[2].1)
        XCTAssertEqual(large.count, 2, "the head, then the body as it came")
        XCTAssertEqual(large.last, Self.large)
    }

    func testAnEndNobodyWaitsForIsFlushedWithTheLoopsBatchAndOneWaitedForAtOnce() throws {
        let (loop, channel, output) = try Self.batchedOutput()
        defer { _ = try? channel.finish() }
        let answer = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"
        for waited in [false, true] {
            let promise = waited ? loop.makePromise(of: Void.self) : nil
            var written = false
            promise?.futureResult.assumeIsolated().whenSuccess { written = true }
            Self.writeSmallAnswer("{}", to: output, endPromise: promise)
            if waited {
                XCTAssertEqual(try Self.written(channel), [answer], "a close waits for it: flushed at once")
                XCTAssertTrue(written)
            } else {
                XCTAssertEqual(try Self.written(channel), [], "written, flushed once the loop's events are handled")
                loop.run()
                XCTAssertEqual(try Self.written(channel), [answer])
            }
        }
    }

    func testPipelinedAnswersEndedInOneBatchLeaveInOrderWithOneFlush() throws {
        let (loop, channel, output) = try Self.batchedOutput()
        defer { _ = try? channel.finish() }
        for body in ["{}", "[]"] {
            Self.writeSmallAnswer(body, to: output)
        }
        XCTAssertEqual(try Self.written(channel), [])
        loop.run()
        XCTAssertEqual(
            try Self.written(channel),
            ["HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n[]"])
        // The next answer, in a later batch, is flushed again (the output asked once per batch, not once for good).
        output.requestRead(.GET)
        output.write(Self.head(.noContent, []), promise: nil)
        output.writeAndFlushEnd(promise: nil)
        loop.run()
        XCTAssertEqual(try Self.written(channel), ["HTTP/1.1 204 No Content\r\n\r\n"])
    }

    /// The answer's buffer goes back to the loop's recycler after the batched flush, not before (the next answer in
    /// the same batch would find it still held by NIO); when the client is gone before that flush, the flush goes
    /// nowhere and the buffer is not kept.
    func testABatchedAnswersBufferIsRecycledAfterItsFlushAndAVanishedClientsIsDropped() throws {
        for vanishes in [false, true] {
            let (loop, channel, output) = try Self.batchedOutput()
            defer { _ = try? channel.finish() }
            let buffers = try XCTUnwrap(output.buffers)
            Self.writeSmallAnswer("{}", to: output)
            XCTAssertNil(buffers.takeKept(capacity: 1), "held until its flush")
            if vanishes {
                output.connectionClosed()  // what the connection handler calls on channelInactive
                try channel.close().wait()
            }
            loop.run()
            if vanishes {
                XCTAssertNil(buffers.takeKept(capacity: 1), "a vanished client's buffer is dropped")
            } else {
                XCTAssertEqual(try Self.written(channel), ["HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"])
                XCTAssertNotNil(buffers.takeKept(capacity: 1), "recycled once flushed")
            }
        }
    }

    func testABodyForAHeadRequestIsRefusedAndNotWritten() throws {
        let host = OutputHost()
        let channel = EmbeddedChannel(handler: host)
        let output = try XCTUnwrap(host.output)
        output.requestRead(.HEAD)
        output.write(Self.head(.ok, [("Content-Length", "5")]), promise: nil)
        let refused = channel.eventLoop.makePromise(of: Void.self)
        output.write(Self.body("hello"), promise: refused)
        XCTAssertThrowsError(try refused.futureResult.wait())
        output.writeAndFlush(.end(nil), promise: nil)
        XCTAssertEqual(try Self.written(channel).joined(), "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n")
    }

    /// A promise given with gathered bytes completes when they are written, not before; the end's promise
    /// completes even when the end adds no bytes (a sized answer).
    func testPromisesCompleteWhenTheirBytesAreWritten() throws {
        let host = OutputHost()
        let channel = EmbeddedChannel(handler: host)
        let output = try XCTUnwrap(host.output)
        output.requestRead(.GET)
        var done: [String] = []
        let headWritten = channel.eventLoop.makePromise(of: Void.self)
        headWritten.futureResult.assumeIsolated().whenSuccess { done.append("head") }
        output.write(Self.head(.ok, [("Content-Length", "1")]), promise: headWritten)
        output.write(Self.body("x"), promise: nil)
        XCTAssertEqual(done, [], "only gathered")
        XCTAssertEqual(try Self.written(channel), [])
        let endWritten = channel.eventLoop.makePromise(of: Void.self)
        endWritten.futureResult.assumeIsolated().whenSuccess { done.append("end") }
        output.writeAndFlush(.end(nil), promise: endWritten)
        XCTAssertEqual(done, ["head", "end"])
        XCTAssertEqual(try Self.written(channel), ["HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx"])
    }

    /// A small relayed part lets the relay read on at once while the channel is writable; once a slow client
    /// made it unwritable, the part's future waits until its bytes are written.
    func testRelayedPartsWaitForTheClientOnceTheChannelIsUnwritable() throws {
        let host = OutputHost()
        let channel = EmbeddedChannel(handler: host)
        let output = try XCTUnwrap(host.output)
        output.requestRead(.GET)
        output.write(Self.head(.ok, [("Content-Type", "text/event-stream")]), promise: nil)
        XCTAssertNil(output.write(Self.body("data: 1\n\n")), "writable: nothing to wait for")
        channel.isWritable = false
        let wait = try XCTUnwrap(output.write(Self.body("data: 2\n\n")), "unwritable: waits for the bytes")
        var done = false
        wait.assumeIsolated().whenSuccess { done = true }
        XCTAssertFalse(done, "unwritable: waits for the bytes to be written")
        output.flush()
        XCTAssertTrue(done)
        _ = try? channel.finish()
    }

    /// A client that vanishes while a relayed part waits for it: the part's future fails (the relay stops
    /// waiting) instead of staying pending with bytes that will never be written.
    func testAPartWaitingForAVanishedClientFails() throws {
        let host = OutputHost()
        let channel = EmbeddedChannel(handler: host)
        let output = try XCTUnwrap(host.output)
        output.requestRead(.GET)
        output.write(Self.head(.ok, [("Content-Type", "text/event-stream")]), promise: nil)
        channel.isWritable = false
        var failed = false
        try XCTUnwrap(output.write(Self.body("data: 1\n\n"))).assumeIsolated().whenFailure { _ in failed = true }
        XCTAssertFalse(failed)
        output.connectionClosed()
        XCTAssertTrue(failed)
        output.flush()
        XCTAssertEqual(try Self.written(channel), [], "nothing of the dropped bytes is written")
        _ = try? channel.finish()
    }

    /// Many small parts between two flushes do not pile up: past the gather limit they go to the channel.
    func testGatheredBytesAreBounded() throws {
        let host = OutputHost()
        let channel = EmbeddedChannel(handler: host)
        let output = try XCTUnwrap(host.output)
        output.requestRead(.GET)
        output.write(Self.head(.ok, [("Content-Type", "text/event-stream")]), promise: nil)
        let event = String(repeating: "e", count: 1000)
        for _ in 0..<(ResponseOutput.gatherLimit / 1000 + 2) {
            output.write(Self.body(event), promise: nil)
        }
        channel.flush()  // what was handed to the channel, not what the output still gathers
        let writes = try Self.written(channel)
        XCTAssertEqual(writes.count, 1)
        XCTAssertGreaterThan(writes[0].utf8.count, ResponseOutput.gatherLimit)
        _ = try? channel.finish()
    }
}
