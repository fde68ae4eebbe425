import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// A scriptable upstream model server for tests, bound to 127.0.0.1 on a free port. It records every request it
/// receives and answers with whatever the test's `respond` closure returns.
final class MockUpstream: Sendable {
    struct Request: Sendable {
        var method: HTTPMethod
        var uri: String
        var headers: HTTPHeaders
        var body: ByteBuffer
        var bodyString: String { String(buffer: self.body) }
    }

    indirect enum Response: Sendable {
        /// A complete answer with Content-Length.
        case full(status: HTTPResponseStatus, headers: [(String, String)], body: String)
        /// Chunked answer: each chunk written and flushed `interval` apart.
        case chunks(status: HTTPResponseStatus, headers: [(String, String)], chunks: [String], interval: TimeAmount)
        /// Sends the head and `chunks`, then closes the connection without finishing the body.
        case cutAfter(chunks: [String])
        /// Waits, then answers.
        case delayed(TimeAmount, Response)
        /// `size` bytes of a repeating pattern, chunked in 64 KiB pieces.
        case bytes(status: HTTPResponseStatus, contentType: String, size: Int)
        /// Never answers (until the connection is closed by the other side).
        case hang
        /// SSE events, each sent only once the test opens its gate: proves chunks are relayed one by one.
        case gated(events: [String], gate: ChunkGate)
        /// Like `gated`, for any byte stream (audio): chunk k is sent once gate k is open, then the body ends.
        case gatedBytes(contentType: String, chunks: [[UInt8]], gate: ChunkGate)
        /// Closes the connection without answering.
        case closeImmediately

        static func json(_ body: String, status: HTTPResponseStatus = .ok, headers: [(String, String)] = []) -> Response
        {
            .full(status: status, headers: [("Content-Type", "application/json")] + headers, body: body)
        }

        static func sse(_ events: [String], interval: TimeAmount) -> Response {
            .chunks(
                status: .ok,
                headers: [("Content-Type", "text/event-stream"), ("Cache-Control", "no-cache")],
                chunks: events.map { "data: \($0)\n\n" },
                interval: interval
            )
        }
    }

    let group: MultiThreadedEventLoopGroup
    private let channel: Channel
    /// A test may stop the upstream mid-test to play a dead box; the harness's teardown stops it again.
    private let stopped = NIOLockedValueBox(false)
    private let state = NIOLockedValueBox(Recorded())
    let port: Int
    var baseURL: String { "\(self.scheme)://127.0.0.1:\(self.port)" }

    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures")

    private static func makeTLSContext() throws -> NIOSSLContext {
        let configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMFile(Self.fixtures.appendingPathComponent("server.pem").path)
                .map { .certificate($0) },
            privateKey: .privateKey(
                try NIOSSLPrivateKey(file: Self.fixtures.appendingPathComponent("server.key").path, format: .pem))
        )
        return try NIOSSLContext(configuration: configuration)
    }

    let scheme: String

    /// - Parameter tls: serve HTTPS with the test CA's certificate (Fixtures/).
    init(tls: Bool = false, respond: @escaping @Sendable (Request) -> Response) throws {
        self.group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        self.scheme = tls ? "https" : "http"
        let state = self.state
        let sslContext: NIOSSLContext? = try tls ? Self.makeTLSContext() : nil
        let bootstrap = ServerBootstrap(group: self.group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let sslContext {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: sslContext))
                    }
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(
                        MockUpstreamHandler(state: state, respond: respond)
                    )
                }
            }
        self.channel = try bootstrap.bind(host: "127.0.0.1", port: 0).wait()
        self.port = self.channel.localAddress!.port!
    }

    var requests: [Request] { self.state.withLockedValue { $0.requests } }
    var closedConnections: Int { self.state.withLockedValue { $0.closedConnections } }
    /// Request heads received, counted as they arrive (before their bodies end).
    var headsReceived: Int { self.state.withLockedValue { $0.headsReceived } }
    /// Request body bytes received so far, over all requests, counted as they arrive.
    var bodyBytesReceived: Int { self.state.withLockedValue { $0.bodyBytesReceived } }

    struct Recorded {
        var requests: [Request] = []
        var closedConnections = 0
        var headsReceived = 0
        var bodyBytesReceived = 0
    }

    /// The bytes `.bytes(size:)` sends: a letter per 64 KiB piece, so a reordered or dropped piece shows.
    static func patternBytes(size: Int) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(size)
        var remaining = size
        while remaining > 0 {
            let count = min(remaining, 65536)
            bytes.append(contentsOf: [UInt8](repeating: UInt8(ascii: "a") + UInt8(remaining % 26), count: count))
            remaining -= count
        }
        return bytes
    }

    func stop() throws {
        let alreadyStopped = self.stopped.withLockedValue { stopped in
            defer { stopped = true }
            return stopped
        }
        guard !alreadyStopped else { return }
        try self.channel.close().wait()
        try self.group.syncShutdownGracefully()
    }

    fileprivate final class MockUpstreamHandler: ChannelInboundHandler {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart

        private let state: NIOLockedValueBox<Recorded>
        private let respond: @Sendable (Request) -> Response
        private var current: Request?

        init(
            state: NIOLockedValueBox<Recorded>,
            respond: @escaping @Sendable (Request) -> Response
        ) {
            self.state = state
            self.respond = respond
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch self.unwrapInboundIn(data) {
            case .head(let head):
                self.current = Request(method: head.method, uri: head.uri, headers: head.headers, body: ByteBuffer())
                self.state.withLockedValue { $0.headsReceived += 1 }
            case .body(var buffer):
                self.state.withLockedValue { $0.bodyBytesReceived += buffer.readableBytes }
                self.current?.body.writeBuffer(&buffer)
            case .end:
                guard let request = self.current else { return }
                self.current = nil
                self.state.withLockedValue { $0.requests.append(request) }
                self.send(self.respond(request), context: context)
            }
        }

        func channelInactive(context: ChannelHandlerContext) {
            self.state.withLockedValue { $0.closedConnections += 1 }
            context.fireChannelInactive()
        }

        private func send(_ response: Response, context: ChannelHandlerContext) {
            let loop = context.eventLoop.assumeIsolated()
            switch response {
            case .full(let status, let headers, let body):
                var head = HTTPResponseHead(version: .http1_1, status: status, headers: HTTPHeaders(headers))
                head.headers.replaceOrAdd(name: "Content-Length", value: String(body.utf8.count))
                context.write(self.wrapOutboundOut(.head(head)), promise: nil)
                context.write(self.wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: body)))), promise: nil)
                context.writeAndFlush(self.wrapOutboundOut(.end(nil)), promise: nil)
            case .chunks(let status, let headers, let chunks, let interval):
                let head = HTTPResponseHead(version: .http1_1, status: status, headers: HTTPHeaders(headers))
                context.writeAndFlush(self.wrapOutboundOut(.head(head)), promise: nil)
                self.writeChunks(chunks[...], interval: interval, context: context, finish: true)
            case .cutAfter(let chunks):
                let head = HTTPResponseHead(
                    version: .http1_1,
                    status: .ok,
                    headers: ["Content-Type": "text/event-stream"]
                )
                context.writeAndFlush(self.wrapOutboundOut(.head(head)), promise: nil)
                self.writeChunks(chunks[...], interval: .milliseconds(5), context: context, finish: false)
            case .delayed(let delay, let next):
                loop.scheduleTask(in: delay) { self.send(next, context: context) }
            case .bytes(let status, let contentType, let size):
                var head = HTTPResponseHead(version: .http1_1, status: status)
                head.headers.add(name: "Content-Type", value: contentType)
                head.headers.add(name: "Content-Length", value: String(size))
                // The head goes out before the body is built: building 64 MB takes longer than a short
                // `request_timeout` on a loaded machine, which then saw a 504 instead of the case under test.
                context.writeAndFlush(self.wrapOutboundOut(.head(head)), promise: nil)
                var remaining = size
                while remaining > 0 {
                    let count = min(remaining, 65536)
                    let piece = ByteBuffer(repeating: UInt8(ascii: "a") + UInt8(remaining % 26), count: count)
                    context.write(self.wrapOutboundOut(.body(.byteBuffer(piece))), promise: nil)
                    remaining -= count
                }
                context.writeAndFlush(self.wrapOutboundOut(.end(nil)), promise: nil)
            case .hang:
                break
            case .gated(let events, let gate):
                let head = HTTPResponseHead(
                    version: .http1_1,
                    status: .ok,
                    headers: ["Content-Type": "text/event-stream"]
                )
                context.writeAndFlush(self.wrapOutboundOut(.head(head)), promise: nil)
                self.writeGated(events.map { Array("data: \($0)\n\n".utf8) }, index: 0, gate: gate, context: context)
            case .gatedBytes(let contentType, let chunks, let gate):
                let head = HTTPResponseHead(version: .http1_1, status: .ok, headers: ["Content-Type": contentType])
                context.writeAndFlush(self.wrapOutboundOut(.head(head)), promise: nil)
                self.writeGated(chunks, index: 0, gate: gate, context: context)
            case .closeImmediately:
                context.close(promise: nil)
            }
        }

        private func writeGated(_ chunks: [[UInt8]], index: Int, gate: ChunkGate, context: ChannelHandlerContext) {
            guard index < chunks.count else {
                context.writeAndFlush(self.wrapOutboundOut(.end(nil)), promise: nil)
                return
            }
            let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            gate.whenOpen(index, on: context.eventLoop) {
                let (handler, context) = loopBound.value
                let chunk = ByteBuffer(bytes: chunks[index])
                context.writeAndFlush(handler.wrapOutboundOut(.body(.byteBuffer(chunk))), promise: nil)
                handler.writeGated(chunks, index: index + 1, gate: gate, context: context)
            }
        }

        private func writeChunks(
            _ chunks: ArraySlice<String>,
            interval: TimeAmount,
            context: ChannelHandlerContext,
            finish: Bool
        ) {
            guard let first = chunks.first else {
                if finish {
                    context.writeAndFlush(self.wrapOutboundOut(.end(nil)), promise: nil)
                } else {
                    context.close(promise: nil)
                }
                return
            }
            context.writeAndFlush(self.wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: first)))), promise: nil)
            context.eventLoop.assumeIsolated().scheduleTask(in: interval) {
                self.writeChunks(chunks.dropFirst(), interval: interval, context: context, finish: finish)
            }
        }
    }
}

/// Lets a test release an upstream's stream events one at a time. Gate 0 is open from the start.
final class ChunkGate: Sendable {
    private let state = NIOLockedValueBox<(opened: Set<Int>, waiting: [Int: @Sendable () -> Void])>(([0], [:]))

    func open(_ index: Int) {
        let waiter = self.state.withLockedValue { state -> (@Sendable () -> Void)? in
            state.opened.insert(index)
            return state.waiting.removeValue(forKey: index)
        }
        waiter?()
    }

    func whenOpen(_ index: Int, on eventLoop: EventLoop, _ body: @escaping @Sendable () -> Void) {
        let run: @Sendable () -> Void = { eventLoop.execute(body) }
        let isOpen = self.state.withLockedValue { state -> Bool in
            if state.opened.contains(index) { return true }
            state.waiting[index] = run
            return false
        }
        if isOpen { run() }
    }
}
