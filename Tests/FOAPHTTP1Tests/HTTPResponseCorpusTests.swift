import NIOCore
import NIOEmbedded
import NIOHTTP1
import XCTest

@testable import FOAPHTTP1

/// The upstream side: foap's response parser against llhttp (NIO's `HTTPResponseDecoder`, told the request's
/// method by `HTTPRequestEncoder` in front of it), each response whole, byte by byte and cut at every byte, the
/// upstream closing after the last byte; and the request writer's bytes against NIO's `HTTPRequestEncoder`.
final class HTTPResponseCorpusTests: XCTestCase {
    static let corpus: [(String, HTTPMethod, String)] = [
        ("sized", .POST, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"),
        ("chunked", .POST, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"),
        ("chunked with trailers", .GET, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\nX-T: 1\r\n\r\n"),
        ("an event stream", .POST, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
            + "e\r\ndata: {\"a\":1}\n\r\n0\r\n\r\n"),
        ("until close", .GET, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nall of this until the end"),
        ("HTTP/1.0 until close", .GET, "HTTP/1.0 200 OK\r\n\r\nold style"),
        ("gzip only, until close", .GET, "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nbytes"),
        ("HEAD with a length", .HEAD, "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n"),
        ("204", .DELETE, "HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n"),
        ("304", .GET, "HTTP/1.1 304 Not Modified\r\nETag: x\r\n\r\n"),
        ("100 then 200", .POST, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx"),
        ("103 then 200", .GET, "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
        ("an HTTP/1.0 interim answer", .GET, "HTTP/1.0 100 Continue\r\n\r\nHTTP/1.0 200 OK\r\n\r\nue"),
        ("an interim answer that closes", .GET,
            "HTTP/1.1 100 Continue\r\nConnection: close\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
        ("an error", .POST, "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1\r\nContent-Length: 2\r\n\r\n{}"),
        ("a custom reason", .GET, "HTTP/1.1 200 Fine Thanks\r\nContent-Length: 0\r\n\r\n"),
        ("a custom code", .GET, "HTTP/1.1 529 Site Overloaded\r\nContent-Length: 0\r\n\r\n"),
        ("no reason", .GET, "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n"),
        ("empty reason", .GET, "HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n"),
        ("leading line ends", .GET, "\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
        ("101", .GET, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nframes"),
        ("zero length", .POST, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
        ("incomplete body", .POST, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"),
        ("incomplete chunk", .POST, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhe"),
        ("CL and TE", .GET, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
        ("two lengths", .GET, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab"),
        ("a bad length", .GET, "HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n"),
        ("a bad status", .GET, "HTTP/1.1 2x0 OK\r\n\r\n"),
        ("a short status", .GET, "HTTP/1.1 20 OK\r\n\r\n"),
        ("not HTTP", .GET, "SSH-2.0-OpenSSH\r\n\r\n"),
        ("HTTP/2.0", .GET, "HTTP/2.0 200 OK\r\n\r\n"),
        ("obs-fold", .GET, "HTTP/1.1 200 OK\r\nX-A: 1\r\n 2\r\nContent-Length: 0\r\n\r\n"),
        ("bare LF", .GET, "HTTP/1.1 200 OK\nContent-Length: 0\n\n"),
        ("NUL in a value", .GET, "HTTP/1.1 200 OK\r\nX: a\u{0}b\r\nContent-Length: 0\r\n\r\n"),
        ("a bad chunk", .GET, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"),
        ("chunk data without CRLF", .GET, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\naX0\r\n\r\n"),
    ]

    private func outcome(_ chunks: [ArraySlice<UInt8>], method: HTTPMethod, llhttp: Bool) -> String {
        var parts: [String] = []
        var refused = false
        func add(_ part: HTTPClientResponsePart) {
            switch part {
            case .head(let head):
                parts.append("head \(head.version) \(head.status.code) \(head.status.reasonPhrase) \(head.headers.map { "\($0.name): \($0.value)" })")
            case .body(let buffer):
                if parts.last?.hasPrefix("body ") == true {
                    parts[parts.count - 1] += String(buffer: buffer)
                } else {
                    parts.append("body " + String(buffer: buffer))
                }
            case .end(let trailers):
                parts.append("end \(trailers.map { "\($0)" } ?? "")")
            }
        }
        if llhttp {
            let channel = EmbeddedChannel()
            try! channel.pipeline.syncOperations.addHandler(HTTPRequestEncoder())
            try! channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(HTTPResponseDecoder()))
            try! channel.writeOutbound(HTTPClientRequestPart.head(HTTPRequestHead(version: .http1_1, method: method, uri: "/")))
            try! channel.writeOutbound(HTTPClientRequestPart.end(nil))
            for chunk in chunks where !refused {
                do { try channel.writeInbound(ByteBuffer(bytes: chunk)) } catch { refused = true }
                while let part = try? channel.readInbound(as: HTTPClientResponsePart.self) { add(part) }
            }
            if !refused {
                // The upstream closes: a body delimited by the close ends, a cut one is an error.
                do { _ = try channel.finish() } catch { refused = true }
                while let part = try? channel.readInbound(as: HTTPClientResponsePart.self) { add(part) }
            }
        } else {
            var parser = HTTPResponseParser()
            parser.expectResponse(to: method)
            var buffer = ByteBuffer()
            chunks: for chunk in chunks {
                buffer.writeBytes(chunk)
                while true {
                    do {
                        guard let part = try parser.nextPart(from: &buffer) ?? parser.pendingEnd() else { break }
                        add(part.nioPart)
                    } catch {
                        refused = true
                        break chunks
                    }
                }
            }
            if !refused {
                if let end = parser.endOfInput() {
                    add(end.nioPart)
                } else if parser.isInsideResponse {
                    refused = true
                }
            }
        }
        if refused, let last = parts.last, !last.hasPrefix("end") {
            // Whether the parts before the refusal were delivered makes no difference: the answer is a 502.
            parts.removeAll()
        }
        return (refused ? "REFUSED " : "") + parts.joined(separator: " | ")
    }

    func testBothParsersReadTheCorpusTheSameWayHoweverItIsSplit() {
        for (name, method, text) in Self.corpus {
            let bytes = Array(text.utf8)
            var splits: [[ArraySlice<UInt8>]] = [[bytes[...]], bytes.indices.map { bytes[$0...$0] }]
            for cut in 1..<bytes.count {
                splits.append([bytes[..<cut], bytes[cut...]])
            }
            for chunks in splits {
                let ours = self.outcome(chunks, method: method, llhttp: false)
                let theirs = self.outcome(chunks, method: method, llhttp: true)
                guard ours == theirs else {
                    XCTFail("\(name) split \(chunks.map(\.count)):\n  foap:   \(ours)\n  llhttp: \(theirs)")
                    break
                }
            }
        }
    }

    func testRequestsAreTheBytesNIOsEncoderWrote() throws {
        let json = ByteBuffer(string: #"{"model":"m"}"#)
        let cases: [(HTTPRequestHead, ByteBuffer?)] = [
            (HTTPRequestHead(version: .http1_1, method: .POST, uri: "/v1/chat/completions",
                             headers: ["Host": "up", "Content-Length": "13", "Authorization": "Bearer k"]), json),
            (HTTPRequestHead(version: .http1_1, method: .POST, uri: "/v1/x", headers: ["Host": "up"]), json),
            (HTTPRequestHead(version: .http1_1, method: .POST, uri: "/v1/x",
                             headers: ["Transfer-Encoding": "gzip", "Content-Length": "13"]), json),
            (HTTPRequestHead(version: .http1_1, method: .POST, uri: "/v1/x", headers: ["Transfer-Encoding": "gzip"]), json),
            (HTTPRequestHead(version: .http1_1, method: .POST, uri: "/empty", headers: [:]), nil),
            (HTTPRequestHead(version: .http1_1, method: .GET, uri: "/v1/models?limit=2", headers: ["Host": "up"]), nil),
            (HTTPRequestHead(version: .http1_1, method: .GET, uri: "/t", headers: ["Transfer-Encoding": "chunked"]), json),
            (HTTPRequestHead(version: .http1_1, method: .DELETE, uri: "/v1/files/f", headers: ["Content-Length": "0"]), nil),
            (HTTPRequestHead(version: .http1_1, method: .HEAD, uri: "/h", headers: [:]), nil),
            (HTTPRequestHead(version: .http1_0, method: .POST, uri: "/old", headers: [:]), json),
            (HTTPRequestHead(version: .http1_1, method: .TRACE, uri: "/", headers: ["Content-Length": "1"]), nil),
        ]
        for (head, body) in cases {
            let channel = EmbeddedChannel(handler: HTTPRequestEncoder())
            try channel.writeOutbound(HTTPClientRequestPart.head(head))
            if let body, body.readableBytes > 0 {
                try channel.writeOutbound(HTTPClientRequestPart.body(.byteBuffer(body)))
            }
            try channel.writeOutbound(HTTPClientRequestPart.end(nil))
            var theirs = ""
            while let data = try channel.readOutbound(as: IOData.self) {
                if case .byteBuffer(let buffer) = data { theirs += String(buffer: buffer) }
            }
            let ours = HTTPRequestWriter.request(head, body: body, allocator: ByteBufferAllocator())
            XCTAssertEqual(String(buffer: ours), theirs, "\(head.method) \(head.uri) \(head.headers)")
            // The same request made from another message's fields as they arrived (the proxy's way): one dropped
            // from the block before them, the last one added after them (a length as the added length, any other
            // field but a transfer coding as a rendered line).
            var forwarded = [(name: "X-Dropped", value: "1")] + head.headers.map { (name: $0.name, value: $0.value) }
            var added = HTTPAddedFields()
            if forwarded.count > 1, let last = forwarded.last, last.name.lowercased() != "transfer-encoding" {
                forwarded.removeLast()
                if last.name.lowercased() == "content-length", let length = Int(last.value) {
                    added.contentLength = length
                } else {
                    added.lines = Array("\(last.name): \(last.value)\r\n".utf8)
                }
            }
            let lines = forwarded.map { "\($0.name): \($0.value)\r\n" }.joined() + "\r\n"
            var block = try HTTPFieldBlock(fieldLines: ByteBuffer(string: lines))
            block.remove(name: "x-dropped")
            let relayed = HTTPRequestWriter.request(
                method: head.method, uri: head.uri, version: head.version, fields: block, adding: added, body: body,
                allocator: ByteBufferAllocator())
            XCTAssertEqual(String(buffer: relayed), theirs, "forwarded: \(head.method) \(head.uri) \(head.headers)")
        }
    }

    /// An upstream that sends an endless head, too many field bytes or an endless chunk-size line is refused once
    /// it passes the limits (the pool answers the client 502), whether the bytes arrive at once or a few at a time:
    /// the parser never holds more than the limit waiting for a line end.
    func testAnUpstreamPastTheLimitsIsRefused() {
        let limits = HTTPParserLimits(maxHeaderListSize: 1024, maxHeadSize: 2048, maxChunkLineSize: 64)
        let cases: [(String, String, HTTPParserError)] = [
            ("a head that never ends", "HTTP/1.1 200 OK\r\nX-A: " + String(repeating: "a", count: 3000),
                .headerOverflow),
            ("fields over the list size", "HTTP/1.1 200 OK\r\n"
                + (0..<40).map { "X-\($0): \(String(repeating: "v", count: 30))\r\n" }.joined() + "\r\n",
                .headerOverflow),
            ("a chunk-size line that never ends", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x="
                + String(repeating: "e", count: 100), .invalidChunkSize),
        ]
        for (name, text, expected) in cases {
            for step in [text.utf8.count, 7] {
                var parser = HTTPResponseParser(limits: limits)
                parser.expectResponse(to: .GET)
                var buffer = ByteBuffer()
                var thrown: HTTPParserError?
                let bytes = Array(text.utf8)
                feeding: for start in stride(from: 0, to: bytes.count, by: step) {
                    buffer.writeBytes(bytes[start..<min(start + step, bytes.count)])
                    do {
                        while try parser.nextPart(from: &buffer) != nil {}
                    } catch {
                        thrown = error
                        break feeding
                    }
                    XCTAssertLessThanOrEqual(buffer.readableBytes, 2048 + step, "\(name): held past the limit")
                }
                XCTAssertEqual(thrown, expected, "\(name), \(step) bytes at a time")
            }
        }
    }
}
