import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix

/// A model server for the end-to-end tests, on 127.0.0.1 and a free port.
///
/// `POST …/chat/completions` answers at once with a small completion, unless the body asks for `"stream":true`:
/// then it sends an SSE stream of `x-mock-chunks` events (default 10) `x-mock-interval-ms` apart (default 20), each
/// `data: {"index":i}`, then `data: [DONE]`. The proxy forwards those headers unchanged, so each test picks its
/// stream's shape per request. `POST /v1/responses` stores a response in this instance's memory only (as vLLM does):
/// a `previous_response_id` or `GET /v1/responses/{id}` of another instance's response is a 404. Anything else gets
/// a 404, which the tests count as a failure.
final class StreamingUpstream: Sendable {
    let group: MultiThreadedEventLoopGroup
    let port: Int
    private let channel: Channel
    private let counter: NIOLockedValueBox<Int>
    /// The ids of the responses this instance made.
    private let responses: NIOLockedValueBox<Set<String>>

    var baseURL: String { "http://127.0.0.1:\(self.port)" }
    /// Requests answered so far.
    var requestCount: Int { self.counter.withLockedValue { $0 } }

    init() throws {
        self.group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let counter = NIOLockedValueBox(0)
        self.counter = counter
        let responses = NIOLockedValueBox(Set<String>())
        self.responses = responses
        let bootstrap = ServerBootstrap(group: self.group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(.backlog, value: 1024)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(
                        UpstreamHandler(counter: counter, responses: responses))
                }
            }
        self.channel = try bootstrap.bind(host: "127.0.0.1", port: 0).wait()
        self.port = self.channel.localAddress!.port!
    }

    func stop() throws {
        try self.channel.close().wait()
        try self.group.syncShutdownGracefully()
    }

    /// The events a stream of `count` chunks carries, in order, as the client should receive them.
    static func expectedStream(chunks count: Int) -> String {
        (0..<count).map { "data: {\"index\":\($0)}\n\n" }.joined() + "data: [DONE]\n\n"
    }
}

/// Serves one upstream connection; keep-alive is handled by NIO's pipelining handler in front of it.
private final class UpstreamHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let counter: NIOLockedValueBox<Int>
    private let responses: NIOLockedValueBox<Set<String>>
    private var head: HTTPRequestHead?
    private var body = ByteBuffer()

    init(counter: NIOLockedValueBox<Int>, responses: NIOLockedValueBox<Set<String>>) {
        self.counter = counter
        self.responses = responses
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch self.unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            self.body.clear()
        case .body(var buffer):
            self.body.writeBuffer(&buffer)
        case .end:
            guard let head = self.head else { return }
            self.head = nil
            self.counter.withLockedValue { $0 += 1 }
            self.respond(to: head, body: String(buffer: self.body), context: context)
        }
    }

    private func respond(to head: HTTPRequestHead, body: String, context: ChannelHandlerContext) {
        if head.uri.hasPrefix("/v1/responses") {
            let (status, answer) = self.respondForResponses(head, body: body, port: context.localAddress?.port ?? 0)
            self.writeFull(status: status, body: answer, context: context)
            return
        }
        if head.method == .POST, head.uri.hasPrefix("/echo/") || head.uri.hasPrefix("/v1/messages")
            || head.uri.contains("rerank") || head.uri.hasSuffix("tokenize")
        {
            // What arrived, for tests of routes beyond chat: path, body and the credential headers.
            let echo: [String: String] = [
                "path": head.uri, "body": body, "authorization": head.headers.first(name: "authorization") ?? "",
                "x_api_key": head.headers.first(name: "x-api-key") ?? "",
                "anthropic_version": head.headers.first(name: "anthropic-version") ?? "",
            ]
            let data = (try? JSONSerialization.data(withJSONObject: echo, options: [.sortedKeys])) ?? Data()
            self.writeFull(status: .ok, body: String(decoding: data, as: UTF8.self), context: context)
            return
        }
        guard head.method == .POST, head.uri.hasSuffix("/chat/completions") else {
            self.writeFull(status: .notFound, body: #"{"error":{"message":"mock: unknown route"}}"#, context: context)
            return
        }
        guard body.contains(#""stream":true"#) else {
            let answer = #"{"id":"mock","object":"chat.completion","choices":[{"index":0,"message":"#
                + #"{"role":"assistant","content":"ok"},"finish_reason":"stop"}]}"#
            self.writeFull(status: .ok, body: answer, context: context)
            return
        }
        let chunks = head.headers.first(name: "x-mock-chunks").flatMap(Int.init) ?? 10
        let interval = head.headers.first(name: "x-mock-interval-ms").flatMap(Int64.init) ?? 20
        var response = HTTPResponseHead(version: .http1_1, status: .ok)
        response.headers.add(name: "Content-Type", value: "text/event-stream")
        response.headers.add(name: "Cache-Control", value: "no-cache")
        context.writeAndFlush(self.wrapOutboundOut(.head(response)), promise: nil)
        self.writeEvent(0, of: chunks, interval: .milliseconds(interval), context: context)
    }

    /// Stored responses, in this instance's memory: a follow-up or retrieve of another instance's id is a 404.
    private func respondForResponses(_ head: HTTPRequestHead, body: String, port: Int) -> (HTTPResponseStatus, String) {
        let notFound = (HTTPResponseStatus.notFound, #"{"error":{"message":"mock: no such response"}}"#)
        if head.method == .POST, head.uri == "/v1/responses" {
            let object = (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any]
            return self.responses.withLockedValue { made in
                if let previous = object?["previous_response_id"] as? String, !made.contains(previous) {
                    return notFound
                }
                let id = "resp_\(port)_\(made.count)"
                made.insert(id)
                return (.ok, #"{"id":"\#(id)","object":"response","port":\#(port)}"#)
            }
        }
        let id = head.uri.split(separator: "/").dropFirst(2).first.map(String.init) ?? ""
        guard self.responses.withLockedValue({ $0.contains(id) }) else { return notFound }
        return (.ok, #"{"id":"\#(id)","object":"response","port":\#(port)}"#)
    }

    /// Writes event `index`, then schedules the next one; after the last, `[DONE]` and the end of the body.
    private func writeEvent(_ index: Int, of count: Int, interval: TimeAmount, context: ChannelHandlerContext) {
        guard context.channel.isActive else { return }
        guard index < count else {
            let done = ByteBuffer(string: "data: [DONE]\n\n")
            context.write(self.wrapOutboundOut(.body(.byteBuffer(done))), promise: nil)
            context.writeAndFlush(self.wrapOutboundOut(.end(nil)), promise: nil)
            return
        }
        let event = ByteBuffer(string: "data: {\"index\":\(index)}\n\n")
        context.writeAndFlush(self.wrapOutboundOut(.body(.byteBuffer(event))), promise: nil)
        context.eventLoop.assumeIsolated().scheduleTask(in: interval) {
            self.writeEvent(index + 1, of: count, interval: interval, context: context)
        }
    }

    private func writeFull(status: HTTPResponseStatus, body: String, context: ChannelHandlerContext) {
        var head = HTTPResponseHead(version: .http1_1, status: status)
        head.headers.add(name: "Content-Type", value: "application/json")
        head.headers.add(name: "Content-Length", value: String(body.utf8.count))
        context.write(self.wrapOutboundOut(.head(head)), promise: nil)
        context.write(self.wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: body)))), promise: nil)
        context.writeAndFlush(self.wrapOutboundOut(.end(nil)), promise: nil)
    }
}

@available(*, unavailable)
extension UpstreamHandler: Sendable {}
