import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import XCTest

/// A WebSocket client written by hand over a raw TCP connection, so a test sees the exact bytes: the handshake
/// answer as sent, then frames (masked on the way out, as RFC 6455 §5.3 requires of clients).
final class WebSocketTestClient: Sendable {
    struct Frame: Equatable {
        var opcode: UInt8
        var payload: [UInt8]
        var text: String { String(decoding: self.payload, as: UTF8.self) }
    }

    private let connection: RawHTTPConnection

    private init(connection: RawHTTPConnection) {
        self.connection = connection
    }

    /// Connects to the proxy and sends an opening handshake for `path` with `headers` added. The connection is
    /// closed when `test` tears down (before its harness drains: an open tunnel would hold the drain).
    static func open(port: Int, path: String, headers: [(String, String)], test: XCTestCase) async throws
        -> (WebSocketTestClient, RawHTTPConnection.Response)
    {
        let connection = try await RawHTTPConnection.connect(port: port)
        test.addTeardownBlock { await connection.close() }
        var request = "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
        request += "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        for (name, value) in headers {
            request += "\(name): \(value)\r\n"
        }
        try await connection.send(request + "\r\n")
        let response = try await connection.readResponse(bodyless: true)
        return (WebSocketTestClient(connection: connection), response)
    }

    /// The raw connection, for a test that reads the refusal's body or checks the close.
    var raw: RawHTTPConnection { self.connection }

    func send(text: String) async throws {
        try await self.connection.send(Self.maskedFrame(opcode: 0x1, payload: Array(text.utf8)))
    }

    func send(binary: [UInt8]) async throws {
        try await self.connection.send(Self.maskedFrame(opcode: 0x2, payload: binary))
    }

    func sendClose() async throws {
        try await self.connection.send(Self.maskedFrame(opcode: 0x8, payload: [0x03, 0xE8]))
    }

    /// The next frame the server sent (unmasked, as servers send them).
    func readFrame(within seconds: Double = 10) async throws -> Frame {
        let bytes = try await self.connection.readRaw(within: seconds) { bytes in
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
        let header = bytes[bytes.startIndex]
        let lengthByte = Int(bytes[bytes.startIndex + 1] & 0x7F)
        let offset = lengthByte == 126 ? 4 : lengthByte == 127 ? 10 : 2
        return Frame(opcode: header & 0x0F, payload: Array(bytes.dropFirst(offset)))
    }

    func close() async {
        await self.connection.close()
    }

    static func maskedFrame(opcode: UInt8, payload: [UInt8]) -> [UInt8] {
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
}
