import FOAPConfig
import FOAPHTTP1
import NIOCore
import NIOHTTP1
import XCTest

@testable import FOAPProxy

/// Which headers cross the proxy: hop-by-hop never, the client's credentials never up, everything else as sent.
final class HeaderPolicyTests: XCTestCase {
    private static let hopByHop = [
        ("Connection", "keep-alive"), ("Keep-Alive", "timeout=5"), ("Proxy-Connection", "keep-alive"),
        ("Proxy-Authenticate", "Basic"), ("Proxy-Authorization", "Basic Zm9vOmJhcg=="), ("TE", "trailers"),
        ("Trailer", "X-Checksum"), ("Transfer-Encoding", "chunked"), ("Upgrade", "websocket"),
    ]

    /// The downstream filter, on both forms the upstream's fields come in: `HTTPHeaders` (AsyncHTTPClient's answers)
    /// and the bytes of a pooled connection's head (`HTTPFieldBlock`); both must keep the same fields.
    private func downstream(_ fields: [(String, String)], file: StaticString = #filePath, line: UInt = #line)
        -> HTTPHeaders
    {
        let strings = HeaderPolicy.downstreamHeaders(from: HTTPHeaders(fields))
        let lines = fields.map { "\($0): \($1)\r\n" }.joined() + "\r\n"
        let block = try! HTTPFieldBlock(fieldLines: ByteBuffer(string: lines))
        let bytes = HeaderPolicy.downstreamFields(from: block).headers
        XCTAssertEqual(
            bytes.map { "\($0.name): \($0.value)" }, strings.map { "\($0.name): \($0.value)" }, file: file, line: line)
        return strings
    }

    func testUpstreamDropsHopByHopCredentialsAndFramingAndInjectsTheKey() {
        let client = HTTPHeaders(
            Self.hopByHop + [
                ("Host", "gateway:8000"), ("Content-Length", "17"), ("Authorization", "Bearer sk-client"),
                ("api-key", "azure-client-key"), ("API-KEY", "again"), ("Expect", "100-continue"),
                ("Content-Type", "application/json"), ("OpenAI-Beta", "assistants=v2"), ("Idempotency-Key", "i-1"),
                ("X-Request-ID", "r-1"), ("OpenAI-Organization", "org-1"), ("X-Stainless-Lang", "python"),
                ("Accept", "text/event-stream"), ("User-Agent", "OpenAI/Python 1.50"),
            ]
        )
        let up = HeaderPolicy.upstreamHeaders(from: client, apiKey: "sk-upstream", contentLength: 42)
        XCTAssertEqual(
            up.map(\.name),
            [
                "Content-Type", "OpenAI-Beta", "Idempotency-Key", "X-Request-ID", "OpenAI-Organization",
                "X-Stainless-Lang", "Accept", "User-Agent", "Authorization", "Content-Length",
            ]
        )
        XCTAssertEqual(up["authorization"], ["Bearer sk-upstream"])
        XCTAssertEqual(up["content-length"], ["42"])
        XCTAssertEqual(up["openai-beta"], ["assistants=v2"])
        XCTAssertEqual(up["user-agent"], ["OpenAI/Python 1.50"])
    }

    /// The pooled path writes the client's fields straight from the bytes they arrived in, dropping those that do
    /// not cross by position: the same fields, in the same order, as the filtered copy the other path sends.
    func testFieldsForwardedByPositionAreTheFilteredCopysFields() throws {
        let cases: [[(String, String)]] = [
            Self.hopByHop + [("Host", "gateway"), ("Content-Type", "application/json"), ("Authorization", "Bearer c")],
            [("Accept", "*/*")],
            [],
            [("Connection", "close, X-Hop"), ("X-Hop", "1"), ("X-End", "2")],
            (0..<70).map { ("X-\($0)", "\($0)") } + [("Host", "late")],
        ]
        for fields in cases {
            let copy = HeaderPolicy.upstreamHeaders(from: HTTPHeaders(fields), apiKey: nil, contentLength: nil)
            let lines = fields.map { "\($0): \($1)\r\n" }.joined() + "\r\n"
            let block = try HTTPFieldBlock(fieldLines: ByteBuffer(string: lines))
            XCTAssertEqual(
                HeaderPolicy.upstreamFields(from: block).headers.map { "\($0.name): \($0.value)" },
                copy.map { "\($0.name): \($0.value)" })
        }
        XCTAssertEqual(
            HeaderPolicy.upstreamAddedFields(apiKey: "k", contentLength: 5, authHeader: .xAPIKey)
                .map { "\($0.name)=\($0.value)" },
            ["x-api-key=k", "Content-Length=5"])
        // The pooled path's fields are the same lines, then `Host`, as the upstream receives them.
        for (authHeader, line) in [(UpstreamAuthHeader.xAPIKey, "x-api-key: k"), (.authorization, "Authorization: Bearer k")] {
            let added = HeaderPolicy.upstreamAddedFields(
                apiKey: "k", contentLength: 5, authHeader: authHeader, hostLine: Array("Host: up:8000\r\n".utf8))
            let request = HTTPRequestWriter.request(
                method: .POST, uri: "/", version: .http1_1, fields: HTTPFieldBlock(), adding: added,
                body: ByteBuffer(string: "12345"), allocator: ByteBufferAllocator())
            XCTAssertEqual(
                String(buffer: request), "POST / HTTP/1.1\r\n\(line)\r\nContent-Length: 5\r\nHost: up:8000\r\n\r\n12345")
        }
        let keyless = HTTPRequestWriter.request(
            method: .GET, uri: "/", version: .http1_1, fields: HTTPFieldBlock(),
            adding: HeaderPolicy.upstreamAddedFields(
                apiKey: nil, contentLength: nil, authHeader: .authorization, hostLine: Array("Host: up\r\n".utf8)),
            body: nil, allocator: ByteBufferAllocator())
        XCTAssertEqual(String(buffer: keyless), "GET / HTTP/1.1\r\nHost: up\r\n\r\n")
    }

    func testWithoutAKeyNoAuthorizationReachesTheUpstream() {
        let client = HTTPHeaders([("Authorization", "Bearer sk-client"), ("Api-Key", "k"), ("Accept", "*/*")])
        let up = HeaderPolicy.upstreamHeaders(from: client, apiKey: nil, contentLength: nil)
        XCTAssertEqual(up.map(\.name), ["Accept"])
    }

    func testHeadersListedInConnectionAreHopByHopInBothDirections() {
        let client = HTTPHeaders([
            ("Connection", "close, X-Hop-A"), ("connection", " x-hop-b ,  Keep-Alive"), ("X-Hop-A", "1"),
            ("x-hop-b", "2"), ("X-End-To-End", "3"),
        ])
        XCTAssertEqual(
            HeaderPolicy.upstreamHeaders(from: client, apiKey: nil, contentLength: nil).map(\.name), ["X-End-To-End"])
        let upstream = [
            ("Connection", "X-Upstream-Hop"), ("X-Upstream-Hop", "1"), ("x-request-id", "req"), ("Content-Type", "a/b"),
            ("connection", "keep-alive"), ("Connection", " x-other ,CLOSE"), ("X-OTHER", "2"),
        ]
        XCTAssertEqual(self.downstream(upstream).map(\.name), ["x-request-id", "Content-Type"])
    }

    func testDownstreamKeepsEndToEndHeadersInOrderAndRepeated() {
        let upstream =
            Self.hopByHop + [
                ("Content-Length", "99"), ("Content-Type", "text/event-stream"), ("x-request-id", "req_1"),
                ("openai-processing-ms", "120"), ("x-ratelimit-limit-requests", "500"),
                ("x-ratelimit-remaining-tokens", "149000"), ("retry-after", "3"), ("Set-Cookie", "a=1"),
                ("Set-Cookie", "b=2"), ("Cache-Control", "no-cache"), ("openai-version", "2020-10-01"),
            ]
        let down = self.downstream(upstream)
        XCTAssertEqual(
            down.map { "\($0.name): \($0.value)" },
            [
                "Content-Length: 99", "Content-Type: text/event-stream", "x-request-id: req_1", "openai-processing-ms: 120",
                "x-ratelimit-limit-requests: 500", "x-ratelimit-remaining-tokens: 149000", "retry-after: 3",
                "Set-Cookie: a=1", "Set-Cookie: b=2", "Cache-Control: no-cache", "openai-version: 2020-10-01",
            ]
        )
    }

    func testDownstreamPassesTheUpstreamsWWWAuthenticate() {
        // An upstream's 401 challenge is end to end: the client sees why it was refused.
        let down = self.downstream([("WWW-Authenticate", "Bearer")])
        XCTAssertEqual(down["www-authenticate"], ["Bearer"])
    }
}
