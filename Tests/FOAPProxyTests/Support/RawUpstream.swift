import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// A byte-level upstream for connection-handling tests: it parses just enough HTTP/1.1 (head, Content-Length body)
/// to tell requests apart, and answers each with raw bytes chosen by the test, so it can misbehave in ways a real
/// HTTP server library would not (close a kept-alive connection on the next request, answer without a length).
final class RawUpstream: Sendable {
    enum Reply: Sendable {
        /// Writes `text` and keeps the connection open.
        case send(String)
        /// Writes `text`, then closes the connection.
        case sendThenClose(String)
        /// Closes the connection without answering.
        case close
        /// A 200 with Content-Length `size` and that many bytes, written as fast as the socket takes them;
        /// `bytesSent` counts what the kernel accepted.
        case bytes(size: Int)
    }

    /// Which request this is: overall (from 0) and on its connection (from 0).
    struct RequestIndex: Sendable {
        var overall: Int
        var onConnection: Int
    }

    struct Counters {
        var connections = 0
        var requests = 0
        var bytesSent = 0
    }

    private let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    private let channel: Channel
    private let counters = NIOLockedValueBox(Counters())
    let port: Int
    var baseURL: String { "http://127.0.0.1:\(self.port)" }

    var connections: Int { self.counters.withLockedValue { $0.connections } }
    var requests: Int { self.counters.withLockedValue { $0.requests } }
    var bytesSent: Int { self.counters.withLockedValue { $0.bytesSent } }

    init(reply: @escaping @Sendable (RequestIndex) -> Reply) throws {
        let counters = self.counters
        self.channel = try ServerBootstrap(group: self.group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(Handler(counters: counters, reply: reply))
                }
            }
            .bind(host: "127.0.0.1", port: 0).wait()
        self.port = self.channel.localAddress!.port!
    }

    func stop() throws {
        try self.channel.close().wait()
        try self.group.syncShutdownGracefully()
    }

    private final class Handler: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer

        private let counters: NIOLockedValueBox<Counters>
        private let reply: @Sendable (RequestIndex) -> Reply
        private var received = ByteBuffer()
        private var onConnection = 0

        init(counters: NIOLockedValueBox<Counters>, reply: @escaping @Sendable (RequestIndex) -> Reply) {
            self.counters = counters
            self.reply = reply
        }

        func channelActive(context: ChannelHandlerContext) {
            self.counters.withLockedValue { $0.connections += 1 }
            context.fireChannelActive()
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var buffer = self.unwrapInboundIn(data)
            self.received.writeBuffer(&buffer)
            while let length = self.completeRequestLength() {
                self.received.moveReaderIndex(forwardBy: length)
                let overall = self.counters.withLockedValue { counters in
                    defer { counters.requests += 1 }
                    return counters.requests
                }
                let index = RequestIndex(overall: overall, onConnection: self.onConnection)
                self.onConnection += 1
                self.answer(self.reply(index), context: context)
            }
        }

        /// The byte length of the first whole request in `received`, if it is all there.
        private func completeRequestLength() -> Int? {
            let text = String(buffer: self.received)
            guard let headEnd = text.range(of: "\r\n\r\n") else { return nil }
            let headLength = text.utf8.distance(from: text.startIndex, to: headEnd.upperBound)
            var bodyLength = 0
            for line in text[..<headEnd.lowerBound].split(separator: "\r\n") {
                let parts = line.split(separator: ":", maxSplits: 1)
                if parts.count == 2, parts[0].lowercased() == "content-length" {
                    bodyLength = Int(parts[1].trimmingCharacters(in: .whitespaces)) ?? 0
                }
            }
            return self.received.readableBytes >= headLength + bodyLength ? headLength + bodyLength : nil
        }

        private func answer(_ reply: Reply, context: ChannelHandlerContext) {
            switch reply {
            case .send(let text):
                context.writeAndFlush(self.wrapOutboundOut(ByteBuffer(string: text)), promise: nil)
            case .sendThenClose(let text):
                context.writeAndFlush(self.wrapOutboundOut(ByteBuffer(string: text))).assumeIsolated()
                    .whenComplete { _ in context.close(promise: nil) }
            case .close:
                context.close(promise: nil)
            case .bytes(let size):
                let head = "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: \(size)\r\n\r\n"
                context.write(self.wrapOutboundOut(ByteBuffer(string: head)), promise: nil)
                var remaining = size
                let counters = self.counters
                while remaining > 0 {
                    let count = min(remaining, 65536)
                    let piece = ByteBuffer(repeating: UInt8(ascii: "x"), count: count)
                    context.write(self.wrapOutboundOut(piece)).whenSuccess {
                        counters.withLockedValue { $0.bytesSent += count }
                    }
                    remaining -= count
                }
                context.flush()
            }
        }
    }
}

extension RawUpstream {
    /// A whole keep-alive JSON answer.
    static func jsonReply(_ body: String, extraHeaders: String = "") -> String {
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\(extraHeaders)\r\n"
            + body
    }
}
