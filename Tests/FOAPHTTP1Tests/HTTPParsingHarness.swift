import NIOCore
import NIOEmbedded
import NIOHTTP1

@testable import FOAPHTTP1

/// What a request parser made of a byte stream: the messages it delivered (body bytes joined, however they were
/// split) and whether it refused the stream, and after which message.
struct ParseOutcome: Equatable, CustomStringConvertible {
    struct Message: Equatable {
        var method: String
        var uri: String
        var version: String
        var headers: [String]
        var body: [UInt8] = []
        var ended = false
        var trailers: [String]?
    }

    var messages: [Message] = []
    var refused = false

    var description: String {
        let parts = self.messages.map { message in
            "\(message.method) \(message.uri) \(message.version) \(message.headers) body=\(message.body.count)"
                + (message.ended ? " end" : "") + (message.trailers.map { " trailers=\($0)" } ?? "")
        }
        return (self.refused ? "REFUSED after " : "accepted ") + "[\(parts.joined(separator: "; "))]"
    }

    fileprivate mutating func add(_ part: HTTPServerRequestPart) {
        switch part {
        case .head(let head):
            self.messages.append(
                Message(
                    method: head.method.rawValue, uri: head.uri, version: "\(head.version)",
                    // Trailing whitespace is not part of a field value (RFC 9110 §5.5): foap drops it, llhttp
                    // keeps it.
                    headers: head.headers.map { "\($0.name): \($0.value.trimmingTrailingWhitespace)" }
                )
            )
        case .body(var buffer):
            self.messages[self.messages.count - 1].body += buffer.readBytes(length: buffer.readableBytes) ?? []
        case .end(let trailers):
            self.messages[self.messages.count - 1].ended = true
            self.messages[self.messages.count - 1].trailers = trailers.map {
                $0.map { "\($0.name): \($0.value.trimmingTrailingWhitespace)" }
            }
        }
    }
}

/// Feeds the same bytes, split the same way, to llhttp (NIO's `HTTPRequestDecoder`, the client connection's parser
/// before foap's own) and to foap's `HTTPRequestParser`.
enum HTTPParsingHarness {
    enum Parser: CaseIterable {
        case llhttp
        case foap
    }

    static func outcome(of chunks: [[UInt8]], parser: Parser) -> ParseOutcome {
        var outcome = ParseOutcome()
        switch parser {
        case .llhttp:
            let channel = EmbeddedChannel()
            try! channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(HTTPRequestDecoder()))
            for chunk in chunks where !outcome.refused {
                do {
                    try channel.writeInbound(ByteBuffer(bytes: chunk))
                } catch {
                    outcome.refused = true
                }
                while let part = try? channel.readInbound(as: HTTPServerRequestPart.self) {
                    outcome.add(part)
                }
            }
            _ = try? channel.finish()
        case .foap:
            var parser = HTTPRequestParser()
            var buffer = ByteBuffer()
            chunks: for chunk in chunks {
                buffer.writeBytes(chunk)
                while true {
                    do {
                        guard let part = try parser.nextPart(from: &buffer) ?? parser.pendingEnd() else { break }
                        outcome.add(part.nioPart)
                    } catch {
                        outcome.refused = true
                        break chunks
                    }
                }
            }
        }
        if outcome.refused, outcome.messages.last?.ended == false {
            // Whether the head of the refused message was delivered before the refusal (llhttp delivers it when
            // the fault is in its framing fields, foap refuses the head) makes no difference to what is forwarded.
            outcome.messages.removeLast()
        }
        return outcome
    }

    /// Every way of cutting `bytes` in two, plus one byte at a time.
    static func splits(of bytes: [UInt8]) -> [[[UInt8]]] {
        var splits: [[[UInt8]]] = [[bytes], bytes.map { [$0] }]
        for cut in stride(from: 1, to: bytes.count, by: 1) {
            splits.append([Array(bytes[..<cut]), Array(bytes[cut...])])
        }
        return splits
    }
}

extension String {
    fileprivate var trimmingTrailingWhitespace: String {
        var trimmed = Substring(self)
        while let last = trimmed.last, last == " " || last == "\t" { trimmed = trimmed.dropLast() }
        return String(trimmed)
    }
}
