import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import XCTest

/// The pooled plain-HTTP upstream client (Sources/FOAPProxy/Upstream/) against an upstream that misbehaves at the
/// connection level. No timing is asserted.
final class UpstreamPoolTests: XCTestCase {
    private func harness(_ upstream: RawUpstream) async throws -> ProxyHarness {
        let harness = try await ProxyHarness(config: { _ in ProxyHarness.defaultConfig(upstream.baseURL) }) { _ in
            .json("{}")
        }
        self.addTeardownBlock {
            try await harness.stop()
            try upstream.stop()
        }
        return harness
    }

    private let chat = #"{"model":"gpt-test","messages":[]}"#

    func testSequentialRequestsShareOneUpstreamConnection() async throws {
        let upstream = try RawUpstream { _ in .send(RawUpstream.jsonReply(#"{"ok":true}"#)) }
        let harness = try await self.harness(upstream)
        for index in 0..<20 {
            let response = try await harness.send(.POST, "/v1/chat/completions", json: self.chat)
            XCTAssertEqual(response.status, 200, "request \(index)")
            XCTAssertEqual(response.body, #"{"ok":true}"#)
        }
        XCTAssertEqual(upstream.requests, 20)
        XCTAssertEqual(upstream.connections, 1)
    }

    /// Idle connections are found by the slot a configured target has and by host and port for a target made on the
    /// spot (image data: the file id follows the path): both ways lead to the same connections.
    func testConfiguredAndBuiltTargetsShareTheirHostsConnections() async throws {
        let upstream = try RawUpstream { _ in .send(RawUpstream.jsonReply(#"{"ok":true}"#)) }
        let harness = try await self.harness(upstream)
        for index in 0..<3 {
            let chat = try await harness.send(.POST, "/v1/chat/completions", json: self.chat)
            XCTAssertEqual(chat.status, 200, "chat \(index)")
            let image = try await harness.send(.GET, "/v1/images/data/image-test/f\(index).png")
            XCTAssertEqual(image.status, 200, "image \(index)")
        }
        XCTAssertEqual(upstream.requests, 6)
        XCTAssertEqual(upstream.connections, 1)
    }

    /// A request body larger than the socket takes at once goes out whole: the pooled call waits for the rest of its
    /// bytes behind the first (an empty write's promise) instead of taking the request as written, twice in a row on
    /// one connection.
    func testARequestTheSocketCannotTakeAtOnceGoesOutWhole() async throws {
        let harness = try await ProxyHarness { request in
            .json(#"{"received":\#(request.body.readableBytes)}"#)
        }
        self.addTeardownBlock { try await harness.stop() }
        let content = String(repeating: "x", count: 8 * 1024 * 1024)
        let body = #"{"model":"gpt-test","messages":[{"role":"user","content":"\#(content)"}]}"#
        for attempt in 0..<2 {
            let response = try await harness.send(.POST, "/v1/chat/completions", json: body)
            XCTAssertEqual(response.status, 200, "attempt \(attempt): \(response.body)")
            // The upstream got the body with its model name rewritten (`gpt-test` -> the target model).
            let received = response.body.split(separator: ":").last.flatMap { Int($0.dropLast()) }
            XCTAssertEqual(received.map { abs($0 - body.utf8.count) < 64 }, true, response.body)
        }
    }

    /// A reused connection that the upstream closes after reading the request: the POST may already run upstream
    /// (a chat billed, an image made), so it is not replayed — the client gets a 502 and the upstream saw it once.
    /// Before the fix the mock saw every such request twice.
    func testAPostThatReachedTheUpstreamIsNotReplayedWhenTheConnectionDies() async throws {
        let upstream = try RawUpstream { index in
            index.onConnection == 0 ? .send(RawUpstream.jsonReply(#"{"n":\#(index.overall)}"#)) : .close
        }
        let harness = try await self.harness(upstream)
        let first = try await harness.send(.POST, "/v1/chat/completions", json: self.chat)
        XCTAssertEqual(first.status, 200)
        let second = try await harness.send(.POST, "/v1/chat/completions", json: self.chat)
        XCTAssertEqual(second.status, 502, second.body)
        XCTAssertTrue(second.body.contains("upstream"), second.body)
        XCTAssertEqual(upstream.requests, 2, "the second request reached the upstream exactly once")
        // The dead connection is not reused: the next request opens a fresh one.
        let third = try await harness.send(.POST, "/v1/chat/completions", json: self.chat)
        XCTAssertEqual(third.status, 200)
        XCTAssertEqual(upstream.connections, 2)
    }

    /// GET (image data) is idempotent: the keep-alive race is absorbed by one replay on a fresh connection.
    func testAGetOnAReusedConnectionThatDiesIsReplayedOnce() async throws {
        let upstream = try RawUpstream { index in
            index.onConnection == 0 ? .send(RawUpstream.jsonReply(#"{"n":\#(index.overall)}"#)) : .close
        }
        let harness = try await self.harness(upstream)
        for index in 0..<3 {
            let response = try await harness.send(.GET, "/v1/images/data/image-test/f.png")
            XCTAssertEqual(response.status, 200, "request \(index)")
        }
        XCTAssertEqual(upstream.connections, 3)
        XCTAssertEqual(upstream.requests, 5)
    }

    /// An upstream that closes after every answer (no `Connection: close` said): the next request finds the pooled
    /// connection dead or hits the race, and succeeds either way.
    func testUpstreamClosingIdleConnectionsIsHarmless() async throws {
        let upstream = try RawUpstream { _ in .sendThenClose(RawUpstream.jsonReply(#"{"ok":true}"#)) }
        let harness = try await self.harness(upstream)
        for index in 0..<10 {
            let response = try await harness.send(.POST, "/v1/chat/completions", json: self.chat)
            XCTAssertEqual(response.status, 200, "request \(index)")
            XCTAssertEqual(response.body, #"{"ok":true}"#)
        }
    }

    func testConnectionCloseFromUpstreamIsHonoured() async throws {
        let upstream = try RawUpstream { _ in
            .sendThenClose(RawUpstream.jsonReply(#"{"ok":true}"#, extraHeaders: "Connection: close\r\n"))
        }
        let harness = try await self.harness(upstream)
        for index in 0..<5 {
            let response = try await harness.send(.POST, "/v1/chat/completions", json: self.chat)
            XCTAssertEqual(response.status, 200, "request \(index)")
        }
        XCTAssertEqual(upstream.connections, 5)
        XCTAssertEqual(upstream.requests, 5, "no request was sent to a connection the upstream said it would close")
    }

    func testResponseWithoutLengthIsReadUntilClose() async throws {
        let body = String(repeating: "data without a length; ", count: 2000)
        let upstream = try RawUpstream { _ in
            .sendThenClose("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n" + body)
        }
        let harness = try await self.harness(upstream)
        for _ in 0..<3 {
            let response = try await harness.send(.POST, "/v1/chat/completions", json: self.chat)
            XCTAssertEqual(response.status, 200)
            XCTAssertEqual(response.body, body)
        }
        XCTAssertEqual(upstream.connections, 3)
    }

    func testConcurrentClientsUseAtMostOneConnectionEach() async throws {
        let upstream = try RawUpstream { index in .send(RawUpstream.jsonReply(#"{"n":\#(index.overall)}"#)) }
        let harness = try await self.harness(upstream)
        let clients = 6
        let requestsPerClient = 20
        let chat = self.chat
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<clients {
                group.addTask {
                    for _ in 0..<requestsPerClient {
                        let response = try await harness.send(.POST, "/v1/chat/completions", json: chat)
                        XCTAssertEqual(response.status, 200)
                        XCTAssertTrue(response.body.hasPrefix(#"{"n":"#))
                    }
                }
            }
            try await group.waitForAll()
        }
        XCTAssertEqual(upstream.requests, clients * requestsPerClient)
        XCTAssertLessThanOrEqual(upstream.connections, clients)
    }

    /// A client that stops reading must not make the worker pull the whole upstream answer into memory: upstream
    /// reads are held while the client write is pending, so the upstream's sending stalls at socket-buffer size.
    func testSlowClientHoldsBackTheUpstream() async throws {
        // What the kernel alone may hold between the upstream and the stalled client (the upstream's send buffer,
        // the worker's receive and send buffers, the client's 64 KiB receive buffer). Loopback autotuning can take
        // the receive buffer to tcp_rmem's maximum (32 MiB here), so a fixed "half of 20 MB" bound was flaky.
        let kernelBuffers = Self.maximumSocketBuffer("tcp_rmem") + 2 * Self.maximumSocketBuffer("tcp_wmem") + 64 * 1024
        let workerAllowance = 1024 * 1024
        let size = kernelBuffers + workerAllowance + 8 * 1024 * 1024
        let upstream = try RawUpstream { _ in .bytes(size: size) }
        let harness = try await self.harness(upstream)
        let client = try await SlowReader.connect(port: harness.port)
        defer { client.close() }
        try await client.send(
            "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                + "Content-Length: \(self.chat.utf8.count)\r\n\r\n" + self.chat
        )
        // Wait until the upstream has started sending, then until its progress stalls (bounded).
        XCTAssertTrue(eventually { upstream.bytesSent > 0 })
        var last = -1
        var stableRounds = 0
        let deadline = Date().addingTimeInterval(20)
        while stableRounds < 10, Date() < deadline {
            let now = upstream.bytesSent
            stableRounds = now == last ? stableRounds + 1 : 0
            last = now
            try await Task.sleep(nanoseconds: 50_000_000)
        }
        XCTAssertLessThan(
            upstream.bytesSent,
            kernelBuffers + workerAllowance,
            "the worker buffered the upstream answer for a slow client"
        )
        // Now read everything: the whole answer arrives.
        let received = try await client.readAll(atLeast: size, within: 60)
        XCTAssertGreaterThanOrEqual(received, size)
        XCTAssertEqual(upstream.bytesSent, size)
    }

    // MARK: Responses the upstream connection's own parser reads (FOAPHTTP1.HTTPResponseParser)

    /// An answer without `Content-Length` or chunking runs until the upstream closes: the client gets all of it,
    /// and the closed connection is not reused.
    func testAnAnswerDelimitedByTheUpstreamClosingIsRelayedWhole() async throws {
        let upstream = try RawUpstream { _ in
            .sendThenClose("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n" + #"{"ok":true}"#)
        }
        let harness = try await self.harness(upstream)
        for index in 0..<2 {
            let response = try await harness.send(.POST, "/v1/chat/completions", json: self.chat)
            XCTAssertEqual(response.status, 200, "request \(index)")
            XCTAssertEqual(response.body, #"{"ok":true}"#, "request \(index)")
        }
        XCTAssertEqual(upstream.connections, 2)
    }

    /// Interim answers (100 Continue, 103 Early Hints) are not the answer: the final one reaches the client.
    func testInterimAnswersAreSkipped() async throws {
        let upstream = try RawUpstream { _ in
            .send(
                "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
                    + RawUpstream.jsonReply(#"{"ok":true}"#)
            )
        }
        let harness = try await self.harness(upstream)
        let response = try await harness.send(.POST, "/v1/chat/completions", json: self.chat)
        XCTAssertEqual(response.status, 200)
        XCTAssertEqual(response.body, #"{"ok":true}"#)
    }

    /// `Connection: close` from the upstream (the parser's keep-alive, not `HTTPHeaders`'): the next request opens a
    /// fresh connection instead of writing into one the upstream is closing.
    func testAnUpstreamThatSaysCloseIsNotReused() async throws {
        let upstream = try RawUpstream { _ in
            .send(RawUpstream.jsonReply(#"{"ok":true}"#, extraHeaders: "Connection: close\r\n"))
        }
        let harness = try await self.harness(upstream)
        for index in 0..<3 {
            let response = try await harness.send(.POST, "/v1/chat/completions", json: self.chat)
            XCTAssertEqual(response.status, 200, "request \(index)")
        }
        XCTAssertEqual(upstream.connections, 3)
        XCTAssertEqual(upstream.requests, 3)
    }

    /// Something that is not an HTTP answer is a 502, and the connection is dropped.
    func testAnAnswerThatIsNotHTTPIsA502() async throws {
        let upstream = try RawUpstream { _ in .send("SSH-2.0-OpenSSH_9.2\r\n\r\n") }
        let harness = try await self.harness(upstream)
        let response = try await harness.send(.POST, "/v1/chat/completions", json: self.chat)
        XCTAssertEqual(response.status, 502, response.body)
        XCTAssertTrue(response.body.contains("upstream"), response.body)
    }
}

extension UpstreamPoolTests {
    /// The third (maximum) value of /proc/sys/net/ipv4/<name>, e.g. `tcp_rmem`.
    static func maximumSocketBuffer(_ name: String) -> Int {
        let text = (try? String(contentsOfFile: "/proc/sys/net/ipv4/\(name)", encoding: .utf8)) ?? ""
        return text.split(whereSeparator: \.isWhitespace).last.flatMap { Int($0) } ?? 8 * 1024 * 1024
    }
}

/// A raw client connection that reads only when asked (autoRead off), to play a slow client.
private final class SlowReader: Sendable {
    private let channel: Channel
    private let received: NIOLockedValueBox<Int>

    private init(channel: Channel, received: NIOLockedValueBox<Int>) {
        self.channel = channel
        self.received = received
    }

    static func connect(port: Int) async throws -> SlowReader {
        let received = NIOLockedValueBox(0)
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(.autoRead, value: false)
            .channelOption(.socketOption(.so_rcvbuf), value: 64 * 1024)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(Counter(received: received))
                }
            }
            .connect(host: "127.0.0.1", port: port).get()
        return SlowReader(channel: channel, received: received)
    }

    func send(_ text: String) async throws {
        try await self.channel.writeAndFlush(ByteBuffer(string: text)).get()
    }

    /// Reads until `count` bytes arrived (bounded); returns how many did.
    func readAll(atLeast count: Int, within seconds: Double) async throws -> Int {
        let deadline = Date().addingTimeInterval(seconds)
        while self.received.withLockedValue({ $0 }) < count, Date() < deadline {
            self.channel.read()
            try await Task.sleep(nanoseconds: 1_000_000)
        }
        return self.received.withLockedValue { $0 }
    }

    func close() {
        self.channel.close(promise: nil)
    }

    private final class Counter: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        let received: NIOLockedValueBox<Int>
        init(received: NIOLockedValueBox<Int>) { self.received = received }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let count = self.unwrapInboundIn(data).readableBytes
            self.received.withLockedValue { $0 += count }
        }
    }
}
