import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import XCTest

/// A WebSocket client written by hand over a raw TCP connection, so a test sees the exact bytes: the handshake
/// answer as sent, then frames (masked on the way out, as RFC 6455 §5.3 requires of clients).
public final class WebSocketTestClient: Sendable {
    public struct Frame: Equatable, Sendable {
        public var opcode: UInt8
        public var payload: [UInt8]
        public var text: String { String(decoding: self.payload, as: UTF8.self) }

        public init(opcode: UInt8, payload: [UInt8]) {
            self.opcode = opcode
            self.payload = payload
        }
    }

    /// The answer to the opening handshake (its head; a refusal's body is not read).
    public struct Head: Sendable {
        public var status: UInt
        public var headers: [(name: String, value: String)]

        public func header(_ name: String) -> String? {
            self.headers.first { $0.name.lowercased() == name.lowercased() }?.value
        }
    }

    public struct TimedOut: Error, CustomStringConvertible {
        public var description: String { "timed out waiting for the server" }
    }

    private struct Received {
        var bytes: [UInt8] = []
        var consumed = 0
        var closed = false
    }

    private let channel: Channel
    private let state: NIOLockedValueBox<Received>

    private init(channel: Channel, state: NIOLockedValueBox<Received>) {
        self.channel = channel
        self.state = state
    }

    /// Connects to `port` on 127.0.0.1 and sends an opening handshake for `path` with `headers` added. The
    /// connection is closed when `test` tears down (before its server drains: an open tunnel would hold the drain).
    public static func open(port: Int, path: String, headers: [(String, String)], test: XCTestCase) async throws
        -> (WebSocketTestClient, Head)
    {
        let state = NIOLockedValueBox(Received())
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(Collector(state: state))
                }
            }
            .connect(host: "127.0.0.1", port: port).get()
        let client = WebSocketTestClient(channel: channel, state: state)
        test.addTeardownBlock { await client.close() }
        var request = "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
        request += "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        for (name, value) in headers {
            request += "\(name): \(value)\r\n"
        }
        try await client.send(Array((request + "\r\n").utf8))
        let headBytes = try await client.read { bytes in
            var index = bytes.startIndex
            while index + 3 < bytes.endIndex {
                if bytes[index] == 13, bytes[index + 1] == 10, bytes[index + 2] == 13, bytes[index + 3] == 10 {
                    return index + 4 - bytes.startIndex
                }
                index += 1
            }
            return nil
        }
        var lines = String(decoding: headBytes, as: UTF8.self).components(separatedBy: "\r\n")
        let status = lines.removeFirst().split(separator: " ").dropFirst().first.flatMap { UInt($0) } ?? 0
        let fields = lines.compactMap { line -> (name: String, value: String)? in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        }
        return (client, Head(status: status, headers: fields))
    }

    public func send(text: String) async throws {
        try await self.send(Self.maskedFrame(opcode: 0x1, payload: Array(text.utf8)))
    }

    public func send(binary: [UInt8]) async throws {
        try await self.send(Self.maskedFrame(opcode: 0x2, payload: binary))
    }

    public func sendClose() async throws {
        try await self.send(Self.maskedFrame(opcode: 0x8, payload: [0x03, 0xE8]))
    }

    /// The next frame the server sent (unmasked, as servers send them).
    public func readFrame(within seconds: Double = 10) async throws -> Frame {
        let bytes = try await self.read(within: seconds) { bytes in
            guard bytes.count >= 2 else { return nil }
            var length = Int(bytes[bytes.startIndex + 1] & 0x7F)
            var offset = 2
            if length == 126 {
                guard bytes.count >= 4 else { return nil }
                length = Int(bytes[bytes.startIndex + 2]) << 8 | Int(bytes[bytes.startIndex + 3])
                offset = 4
            } else if length == 127 {
                guard bytes.count >= 10 else { return nil }
                length = (2..<10).reduce(0) { $0 << 8 | Int(bytes[bytes.startIndex + $1]) }
                offset = 10
            }
            return bytes.count >= offset + length ? offset + length : nil
        }
        let lengthByte = Int(bytes[1] & 0x7F)
        let offset = lengthByte == 126 ? 4 : lengthByte == 127 ? 10 : 2
        return Frame(opcode: bytes[0] & 0x0F, payload: Array(bytes.dropFirst(offset)))
    }

    /// Waits until the server has closed the connection (or `seconds` pass).
    public func waitUntilClosed(within seconds: Double = 10) async throws -> Bool {
        try await self.poll(within: seconds) { $0.closed ? true : nil } ?? false
    }

    public func close() async {
        try? await self.channel.close().get()
    }

    public static func maskedFrame(opcode: UInt8, payload: [UInt8]) -> [UInt8] {
        var frame: [UInt8] = [0x80 | opcode]
        if payload.count < 126 {
            frame.append(0x80 | UInt8(payload.count))
        } else if payload.count < 65536 {
            frame += [0x80 | 126, UInt8(payload.count >> 8), UInt8(payload.count & 0xFF)]
        } else {
            frame.append(0x80 | 127)
            frame += (0..<8).reversed().map { UInt8((payload.count >> ($0 * 8)) & 0xFF) }
        }
        let mask: [UInt8] = [0x37, 0xFA, 0x21, 0x3D]
        frame += mask
        frame += payload.enumerated().map { $0.element ^ mask[$0.offset % 4] }
        return frame
    }

    private func send(_ bytes: [UInt8]) async throws {
        try await self.channel.writeAndFlush(ByteBuffer(bytes: bytes)).get()
    }

    /// The next unread bytes, once `length` (given them) says how many make one unit.
    private func read(within seconds: Double = 10, length: @escaping @Sendable (ArraySlice<UInt8>) -> Int?)
        async throws -> [UInt8]
    {
        let next: @Sendable (inout Received) -> [UInt8]? = { received in
            let bytes = received.bytes[received.consumed...]
            guard let count = length(bytes) else { return nil }
            received.consumed += count
            return Array(bytes.prefix(count))
        }
        guard let bytes = try await self.poll(within: seconds, next) else { throw TimedOut() }
        return bytes
    }

    private func poll<T>(within seconds: Double, _ body: @Sendable (inout Received) -> T?) async throws -> T? {
        let deadline = Date().addingTimeInterval(seconds)
        while true {
            if let value = self.state.withLockedValue({ body(&$0) }) { return value }
            if Date() > deadline { return nil }
            try await Task.sleep(nanoseconds: 2_000_000)
        }
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
