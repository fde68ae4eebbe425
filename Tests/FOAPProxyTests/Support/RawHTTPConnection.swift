import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// A TCP connection that speaks HTTP/1.x by hand, for what an HTTP client library hides: malformed requests,
/// pipelining, HTTP/1.0, `Expect: 100-continue`, interim responses, and whether the server closed the connection.
final class RawHTTPConnection: Sendable {
    struct Response {
        var version: String
        var status: UInt
        var headers: [(name: String, value: String)]
        var body: [UInt8]
        var chunked: Bool
        var bodyString: String { String(decoding: self.body, as: UTF8.self) }

        func header(_ name: String) -> String? {
            self.headers.first { $0.name.lowercased() == name.lowercased() }?.value
        }
    }

    struct TimedOut: Error, CustomStringConvertible {
        var what: String
        var description: String { "timed out waiting for \(self.what)" }
    }

    private let channel: Channel
    private let state: NIOLockedValueBox<Received>

    fileprivate struct Received {
        var bytes: [UInt8] = []
        /// How many bytes earlier responses used up.
        var consumed = 0
        var closed = false
    }

    private init(channel: Channel, state: NIOLockedValueBox<Received>) {
        self.channel = channel
        self.state = state
    }

    static func connect(port: Int) async throws -> RawHTTPConnection {
        let state = NIOLockedValueBox(Received())
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(Collector(state: state))
                }
            }
            .connect(host: "127.0.0.1", port: port).get()
        return RawHTTPConnection(channel: channel, state: state)
    }

    func send(_ text: String) async throws {
        try await self.send(Array(text.utf8))
    }

    func send(_ bytes: [UInt8]) async throws {
        try await self.channel.writeAndFlush(ByteBuffer(bytes: bytes)).get()
    }

    func close() async {
        try? await self.channel.close().get()
    }

    var isClosed: Bool { self.state.withLockedValue { $0.closed } }

    /// Bytes received and not yet parsed as a response.
    var unparsedBytes: Int { self.state.withLockedValue { $0.bytes.count - $0.consumed } }

    /// Waits until the server has closed the connection (or `seconds` pass).
    func waitUntilClosed(within seconds: Double = 10) async throws -> Bool {
        try await self.poll(within: seconds) { $0.closed ? true : nil } ?? false
    }

    /// The next complete response. `bodyless` for answers to HEAD.
    func readResponse(bodyless: Bool = false, within seconds: Double = 10) async throws -> Response {
        let next: @Sendable (inout Received) -> Response? = { received in
            guard let (response, length) = Self.parse(received, bodyless: bodyless) else { return nil }
            received.consumed += length
            return response
        }
        guard let response = try await self.poll(within: seconds, next) else {
            throw TimedOut(what: "a response")
        }
        return response
    }

    private func poll<T>(within seconds: Double, _ body: @Sendable (inout Received) -> T?) async throws -> T? {
        let deadline = Date().addingTimeInterval(seconds)
        while true {
            if let value = self.state.withLockedValue({ body(&$0) }) { return value }
            if Date() > deadline { return nil }
            try await Task.sleep(nanoseconds: 2_000_000)
        }
    }

    /// Parses one response at `received.consumed`; nil until it is complete.
    private static func parse(_ received: Received, bodyless: Bool) -> (Response, Int)? {
        let bytes = received.bytes[received.consumed...]
        guard let headEnd = Self.find([13, 10, 13, 10], in: bytes) else { return nil }
        let headText = String(decoding: bytes[bytes.startIndex..<headEnd], as: UTF8.self)
        var lines = headText.components(separatedBy: "\r\n")
        let statusLine = lines.removeFirst().split(separator: " ", maxSplits: 2)
        guard statusLine.count >= 2, let status = UInt(statusLine[1]) else { return nil }
        let headers = lines.compactMap { line -> (name: String, value: String)? in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        }
        var response = Response(
            version: String(statusLine[0]), status: status, headers: headers, body: [], chunked: false)
        let bodyStart = headEnd + 4
        if bodyless || (100..<200).contains(status) || status == 204 || status == 304 {
            return (response, bodyStart - bytes.startIndex)
        }
        if let length = response.header("content-length").flatMap(Int.init) {
            guard bytes.endIndex - bodyStart >= length else { return nil }
            response.body = Array(bytes[bodyStart..<(bodyStart + length)])
            return (response, bodyStart + length - bytes.startIndex)
        }
        if response.header("transfer-encoding")?.lowercased() == "chunked" {
            response.chunked = true
            var cursor = bodyStart
            while true {
                guard let lineEnd = Self.find([13, 10], in: bytes[cursor...]) else { return nil }
                let sizeText = String(decoding: bytes[cursor..<lineEnd], as: UTF8.self).split(separator: ";")[0]
                guard let size = Int(sizeText.trimmingCharacters(in: .whitespaces), radix: 16) else { return nil }
                cursor = lineEnd + 2
                if size == 0 {
                    guard bytes.endIndex - cursor >= 2 else { return nil }
                    return (response, cursor + 2 - bytes.startIndex)
                }
                guard bytes.endIndex - cursor >= size + 2 else { return nil }
                response.body += bytes[cursor..<(cursor + size)]
                cursor += size + 2
            }
        }
        // Delimited by the connection's close.
        guard received.closed else { return nil }
        response.body = Array(bytes[bodyStart...])
        return (response, bytes.endIndex - bytes.startIndex)
    }

    private static func find(_ needle: [UInt8], in haystack: ArraySlice<UInt8>) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        var index = haystack.startIndex
        while index <= haystack.endIndex - needle.count {
            if haystack[index..<(index + needle.count)].elementsEqual(needle) { return index }
            index += 1
        }
        return nil
    }

    private final class Collector: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        let state: NIOLockedValueBox<Received>

        init(state: NIOLockedValueBox<Received>) {
            self.state = state
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let buffer = self.unwrapInboundIn(data)
            self.state.withLockedValue { $0.bytes += buffer.readableBytesView }
        }

        func channelInactive(context: ChannelHandlerContext) {
            self.state.withLockedValue { $0.closed = true }
            context.fireChannelInactive()
        }

        func errorCaught(context: ChannelHandlerContext, error: Error) {
            context.close(promise: nil)
        }
    }
}
