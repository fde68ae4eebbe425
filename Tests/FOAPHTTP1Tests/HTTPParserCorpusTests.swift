import FOAPHTTP1
import NIOCore
import XCTest

/// foap's request parser against llhttp on one corpus: valid requests, pipelined ones, malformed ones and
/// request-smuggling attempts, each whole, one byte at a time and cut in two at every byte. Both must accept and
/// refuse the same streams and deliver the same messages, except where foap is stricter on purpose (listed in
/// `stricterThanLLHTTP`, each with the rule that makes it so).
final class HTTPParserCorpusTests: XCTestCase {
    private static let chat = #"{"model":"gpt-test"}"#

    /// Streams both parsers must read the same way.
    static let corpus: [(String, String)] = [
        ("simple GET", "GET /health HTTP/1.1\r\nHost: x\r\n\r\n"),
        ("POST with a length", "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 20\r\n\r\n\(chat)"),
        ("Content-Length 0", "POST /v1/x HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"),
        ("HTTP/1.0", "GET /health HTTP/1.0\r\n\r\n"),
        ("no fields", "GET / HTTP/1.1\r\n\r\n"),
        ("leading empty lines", "\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n"),
        (
            "pipelined", "GET /a HTTP/1.1\r\nHost: x\r\n\r\nPOST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
                + "DELETE /c HTTP/1.1\r\nHost: x\r\n\r\n"
        ),
        ("methods", "HEAD / HTTP/1.1\r\n\r\nOPTIONS * HTTP/1.1\r\n\r\nPUT / HTTP/1.1\r\n\r\nPATCH / HTTP/1.1\r\n\r\n"),
        ("query and percent", "GET /v1/models?after=a%20b&limit=5 HTTP/1.1\r\nHost: x\r\n\r\n"),
        ("absolute form", "GET http://example.com/v1/models HTTP/1.1\r\nHost: example.com\r\n\r\n"),
        ("whitespace around values", "GET / HTTP/1.1\r\nHost:x\r\nA:   spaced   \r\nB:\t tab\t\r\nEmpty:\r\n\r\n"),
        ("obs-text in a value", "GET / HTTP/1.1\r\nHost: x\r\nX-Name: caf\u{E9}\r\n\r\n"),
        ("repeated fields", "GET / HTTP/1.1\r\nHost: x\r\nAccept: a\r\nAccept: b\r\nCookie: c=1\r\n\r\n"),
        ("chunked", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
        (
            "chunked, several chunks and hex sizes",
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nA\r\n0123456789\r\n00a\r\nabcdefghij\r\n0\r\n\r\n"
        ),
        ("chunk extensions", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;name=value;flag\r\nabc\r\n0\r\n\r\n"),
        (
            "trailers", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-Sum: 1\r\nX-B: 2\r\n\r\n"
        ),
        ("gzip then chunked", "POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n"),
        ("chunked in any case", "POST / HTTP/1.1\r\nTransfer-Encoding: ChUnKeD\r\n\r\n0\r\n\r\n"),
        (
            "upgrade with bytes after", "GET /v1/realtime HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n"
                + "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\r\n\u{81}\u{05}hello"
        ),
        ("many fields", "GET / HTTP/1.1\r\n" + (0..<200).map { "X-F\($0): \($0)\r\n" }.joined() + "\r\n"),
        ("a length with leading zeros and spaces", "POST / HTTP/1.1\r\nContent-Length:  003  \r\n\r\nabc"),
        ("a fragment in the target", "GET /a#b HTTP/1.1\r\n\r\n"),
        ("IPv6 host", "GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n"),
        ("a value of spaces", "GET / HTTP/1.1\r\nX:    \r\n\r\n"),
        ("an empty list element in TE", "POST / HTTP/1.1\r\nTransfer-Encoding: , chunked\r\n\r\n0\r\n\r\n"),
        (
            "an upgrade with a body",
            "POST /u HTTP/1.1\r\nConnection: upgrade\r\nUpgrade: x\r\nContent-Length: 3\r\n\r\nabcdef"
        ),
        ("CONNECT", "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\nbytes"),
        ("a lone Upgrade field", "GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\nGET /b HTTP/1.1\r\n\r\n"),
        ("HTTP/1.0 keep-alive, pipelined", "GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /b HTTP/1.0\r\n\r\n"),
        ("line ends after Connection: close", "GET / HTTP/1.1\r\nConnection: close\r\n\r\n\r\n\r\n"),
        ("incomplete head", "GET / HTTP/1.1\r\nHost: x\r\n"),
        ("incomplete body", "POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc"),
        // Refused by both.
        ("CL and TE", "POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
        ("TE and CL", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n"),
        ("two lengths", "POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab"),
        ("two equal lengths", "POST / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nab"),
        ("a length list", "POST / HTTP/1.1\r\nContent-Length: 2, 2\r\n\r\nab"),
        ("a negative length", "GET / HTTP/1.1\r\nContent-Length: -4\r\n\r\n"),
        ("a signed length", "POST / HTTP/1.1\r\nContent-Length: +2\r\n\r\nab"),
        ("a hex length", "POST / HTTP/1.1\r\nContent-Length: 0x2\r\n\r\nab"),
        ("a length over 2^64", "POST / HTTP/1.1\r\nContent-Length: 18446744073709551616\r\n\r\n"),
        ("chunked then gzip", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n"),
        ("gzip only", "POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\nabc"),
        ("TE split, gzip last", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n0\r\n\r\n"),
        ("not quite chunked", "POST / HTTP/1.1\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n"),
        ("obs-fold", "GET / HTTP/1.1\r\nHost: x\r\nX-A: one\r\n two\r\n\r\n"),
        ("space before colon", "GET / HTTP/1.1\r\nHost : x\r\n\r\n"),
        ("no colon", "GET /health HTTP/1.1\r\nBad Header Without Colon\r\n\r\n"),
        ("a separator in a name", "GET / HTTP/1.1\r\nX(y): 1\r\n\r\n"),
        ("NUL in a value", "GET / HTTP/1.1\r\nX: a\u{0}b\r\n\r\n"),
        ("DEL in a value", "GET / HTTP/1.1\r\nX: a\u{7F}b\r\n\r\n"),
        ("CR in a value", "GET / HTTP/1.1\r\nX: a\rb\r\n\r\n"),
        ("bare LF", "GET / HTTP/1.1\nHost: x\n\n"),
        ("bare LF in a field", "GET / HTTP/1.1\r\nHost: x\nX: y\r\n\r\n"),
        ("unknown method", "FOO / HTTP/1.1\r\n\r\n"),
        ("lowercase method", "get / HTTP/1.1\r\n\r\n"),
        ("garbage", "\u{1}\u{2}\u{3} not http at all\r\n\r\n"),
        ("no version", "GET /\r\n\r\n"),
        ("HTTP/1.2", "GET / HTTP/1.2\r\n\r\n"),
        ("HTTP/2.0", "GET / HTTP/2.0\r\n\r\n"),
        ("lowercase version", "GET / http/1.1\r\n\r\n"),
        ("space in the target", "GET /a b HTTP/1.1\r\n\r\n"),
        ("a control byte in the target", "GET /a\u{1}b HTTP/1.1\r\n\r\n"),
        ("bad chunk size", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"),
        ("chunk size overflow", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1ffffffffffffffff\r\n"),
        ("chunk without its CRLF", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n0\r\n\r\n"),
        ("chunk size with a space", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3 \r\nabc\r\n0\r\n\r\n"),
        ("a bad chunk extension", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;\r\nabc\r\n0\r\n\r\n"),
        ("TE in HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"),
        ("chunked twice", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n"),
        ("two spaces after the method", "GET  / HTTP/1.1\r\n\r\n"),
        ("a space after the version", "GET / HTTP/1.1 \r\n\r\n"),
        ("a tab in the target", "GET /a\tb HTTP/1.1\r\n\r\n"),
        ("high bytes in the target", "GET /caf\u{E9} HTTP/1.1\r\n\r\n"),
        ("an empty field name", "GET / HTTP/1.1\r\n: x\r\n\r\n"),
        ("QUERY", "QUERY /v1/search HTTP/1.1\r\nContent-Length: 0\r\n\r\n"),
        ("LF alone after chunk data", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\n0\r\n\r\n"),
        ("a bad trailer", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nBad Trailer\r\n\r\n"),
        ("a request after Connection: close", "GET /a HTTP/1.1\r\nConnection: close\r\n\r\nGET /b HTTP/1.1\r\n\r\n"),
        ("a request after HTTP/1.0", "GET /a HTTP/1.0\r\n\r\nGET /b HTTP/1.0\r\n\r\n"),
        // Found by scripts/fuzz-http-parser: a target in none of the four forms.
        ("a target without a slash", "GET F/v1/realtime?model=m HTTP/1.1\r\nHost: x\r\n\r\n"),
        ("a scheme without slashes", "GET http:x HTTP/1.1\r\n\r\n"),
        ("an asterisk and more", "OPTIONS *x HTTP/1.1\r\n\r\n"),
        (
            "Transfer-Encoding in trailers",
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nTransfer-Encoding: chunked\r\n\r\n"
        ),
        ("Content-Length in trailers", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nContent-Length: 5\r\n\r\n"),
        ("obs-text in Transfer-Encoding", "POST / HTTP/1.1\r\nTransfer-Encoding: gzi\u{FF}p, chunked\r\n\r\n0\r\n\r\n"),
        ("whitespace in a chunk extension", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0;a= b\r\n\r\n"),
        ("a good request then garbage", "GET /health HTTP/1.1\r\nHost: x\r\n\r\nGARBAGE\u{0}\r\n\r\n"),
        ("smuggled via a second length", "POST / HTTP/1.1\r\nContent-Length: 0\r\nContent-Length: 44\r\n\r\nGET / HTTP/1.1\r\n\r\n"),
    ]

    /// Where foap refuses what llhttp accepts, and why.
    static let stricterThanLLHTTP: [String: String] = [
        "two spaces after the method": "one SP between the parts of the request line, RFC 9112 §3; a recipient "
            + "should not autocorrect it, since the invalid line may be crafted to get past a filter",
        "an asterisk and more": "asterisk-form is a lone `*` (RFC 9112 §3.2.4)",
        "obs-text in Transfer-Encoding": "transfer codings are tokens (RFC 9112 §6.1); llhttp refuses some such bytes",
    ]

    func testBothParsersReadTheCorpusTheSameWayHoweverItIsSplit() {
        for (name, text) in Self.corpus {
            let bytes = Array(text.utf8)
            let reference = HTTPParsingHarness.outcome(of: [bytes], parser: .llhttp)
            if let reason = Self.stricterThanLLHTTP[name] {
                let ours = HTTPParsingHarness.outcome(of: [bytes], parser: .foap)
                XCTAssertTrue(ours.refused, "\(name): stricter on purpose (\(reason)) but accepted: \(ours)")
                continue
            }
            for chunks in HTTPParsingHarness.splits(of: bytes) {
                let ours = HTTPParsingHarness.outcome(of: chunks, parser: .foap)
                let theirs = HTTPParsingHarness.outcome(of: chunks, parser: .llhttp)
                guard ours == theirs, ours == reference else {
                    XCTFail("\(name) split \(chunks.map(\.count)):\n  foap:   \(ours)\n  llhttp: \(theirs)")
                    break
                }
            }
        }
    }

    func testTheCorpusCoversAcceptedAndRefusedStreams() {
        let outcomes = Self.corpus.map { HTTPParsingHarness.outcome(of: [Array($0.1.utf8)], parser: .llhttp) }
        XCTAssertGreaterThan(outcomes.filter(\.refused).count, 30)
        XCTAssertGreaterThan(outcomes.filter { !$0.refused }.count, 20)
    }

    /// After a refusal or an upgrade the parser reads nothing more, so the connection handler drops what still
    /// arrives instead of holding it until the connection closes.
    func testTheParserStopsForGoodAfterARefusalOrAnUpgrade() throws {
        var refused = HTTPRequestParser()
        var garbage = ByteBuffer(string: "GET / HTTP/1.1\r\nHost x\r\n\r\nGET / HTTP/1.1\r\n\r\n")
        XCTAssertThrowsError(try refused.nextPart(from: &garbage))
        XCTAssertTrue(refused.hasStopped)
        var more = ByteBuffer(string: "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertNil(try refused.nextPart(from: &more))

        var upgraded = HTTPRequestParser()
        var upgrade = ByteBuffer(
            string: "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n\u{81}\u{80}")
        guard case .head = try upgraded.nextPart(from: &upgrade) else { return XCTFail("no head") }
        XCTAssertFalse(upgraded.hasStopped)
        guard case .end = try upgraded.nextPart(from: &upgrade) ?? upgraded.pendingEnd() else { return XCTFail("no end") }
        XCTAssertTrue(upgraded.hasStopped, "stopped without a refusal: upgraded")
        XCTAssertNil(try upgraded.nextPart(from: &upgrade))
    }
}
