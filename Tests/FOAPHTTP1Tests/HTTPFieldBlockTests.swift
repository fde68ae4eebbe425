import NIOCore
import NIOHTTP1
import XCTest

@testable import FOAPHTTP1

/// A received head's fields kept as bytes: read where the parser found them, looked up and dropped by name, and
/// written by `HTTPResponseWriter` exactly as the same fields given as `HTTPHeaders`.
final class HTTPFieldBlockTests: XCTestCase {
    private static func head(_ text: String) throws -> HTTPReceivedResponseHead {
        var parser = HTTPResponseParser()
        var buffer = ByteBuffer(string: text)
        guard case .head(let head) = try parser.nextPart(from: &buffer) else {
            XCTFail("no head in \(text.debugDescription)")
            return HTTPReceivedResponseHead(version: .http1_1, status: .ok, fields: HTTPFieldBlock())
        }
        return head
    }

    private static func block(_ fields: [(String, String)]) throws -> HTTPFieldBlock {
        try HTTPFieldBlock(fieldLines: ByteBuffer(string: fields.map { "\($0): \($1)\r\n" }.joined() + "\r\n"))
    }

    func testFieldsAreReadAsSentWithoutTheWhitespaceAroundValues() throws {
        let head = try Self.head(
            "HTTP/1.1 201 Created\r\nX-A:  spaced \t\r\nx-b:v\r\nX-Empty:\r\nContent-Length: 0\r\nSet-Cookie: a=1\r\n"
                + "Set-Cookie: b=2\r\n\r\n")
        XCTAssertEqual(head.status, .created)
        XCTAssertEqual(
            head.fields.headers.map { "\($0.name)=\($0.value)" },
            ["X-A=spaced", "x-b=v", "X-Empty=", "Content-Length=0", "Set-Cookie=a=1", "Set-Cookie=b=2"])
        XCTAssertEqual(head.fields.count, 6)
        XCTAssertEqual(head.httpResponseHead.headers["set-cookie"], ["a=1", "b=2"])
    }

    func testLookupsIgnoreTheCaseOfNames() throws {
        let fields = try Self.block([("Content-Type", "application/json"), ("X-Request-Id", "r1"), ("x-request-id", "r2")])
        XCTAssertEqual(fields.first(name: "content-type"), "application/json")
        XCTAssertEqual(fields.first(name: "x-request-id"), "r1")
        XCTAssertNil(fields.first(name: "content-length"))
        XCTAssertTrue(fields.contains(name: "x-request-id"))
        XCTAssertFalse(fields.contains(name: "x-request"))
    }

    func testRemovingKeepsTheOrderOfTheRest() throws {
        var fields = try Self.block([("A", "1"), ("Retry-After", "5"), ("B", "2"), ("retry-after", "6"), ("C", "3")])
        fields.remove(name: "retry-after")
        XCTAssertEqual(fields.headers.map(\.name), ["A", "B", "C"])
        fields.removeAll { name, value in name.count == 1 && value.first == UInt8(ascii: "2") }
        XCTAssertEqual(fields.headers.map { "\($0.name)=\($0.value)" }, ["A=1", "C=3"])
        fields.removeAll { _, _ in true }
        XCTAssertTrue(fields.isEmpty)
    }

    func testBlocksAreEqualWhenTheirFieldsAre() throws {
        let parsed = try Self.head("HTTP/1.1 200 OK\r\nA:1\r\nB:   2  \r\n\r\n").fields
        XCTAssertEqual(parsed, try Self.block([("A", "1"), ("B", "2")]))
        XCTAssertNotEqual(parsed, try Self.block([("A", "1"), ("B", "3")]))
        XCTAssertNotEqual(parsed, try Self.block([("A", "1")]))
        XCTAssertNotEqual(parsed, try Self.block([("a", "1"), ("B", "2")]), "names are compared byte for byte")
    }

    /// A name set finds its names in any case and nothing else: not a name one byte off, shorter, longer, or with a
    /// byte that lowers to one of its bytes (`^` lowers to `~`, CR to `-`).
    func testANameSetFindsItsNamesInAnyCase() {
        let set = HTTPFieldNameSet(["connection", "te", "Keep-Alive", "x-ratelimit-limit-requests"])
        for name in ["connection", "CONNECTION", "Connection", "te", "TE", "keep-alive", "KEEP-ALIVE",
                     "X-RateLimit-Limit-Requests"] {
            XCTAssertTrue(set.contains(name), name)
        }
        for name in ["connectiom", "connectio", "connections", "t", "tf", "keep\ralive", "keep_alive", "", "host",
                     "x-ratelimit-limit-requestS2"] {
            XCTAssertFalse(set.contains(name), name)
        }
    }

    /// Several names of each length, and lengths without one: every name is found in any case, and every other name
    /// of a length the set has (or not) is not, as a `Set` of the lower-cased names says.
    func testANameSetAgreesWithASetOfItsNames() {
        var generator = SystemRandomNumberGenerator()
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz-")
        func name(_ length: Int) -> String {
            String((0..<length).map { _ in alphabet.randomElement(using: &generator)! })
        }
        for _ in 0..<20 {
            let names = (0..<30).map { _ in name(Int.random(in: 1...12, using: &generator)) }
            let set = HTTPFieldNameSet(names)
            let reference = Set(names)
            for member in names {
                let mixed = String(member.map { Bool.random(using: &generator) ? Character($0.uppercased()) : $0 })
                XCTAssertTrue(set.contains(mixed), mixed)
            }
            for _ in 0..<300 {
                let other = name(Int.random(in: 1...14, using: &generator))
                XCTAssertEqual(set.contains(other), reference.contains(other), other)
            }
        }
    }

    /// Dropping by a name set keeps the rest in order, and says when a dropped `Connection` field lists more than
    /// its options (fields the caller must drop too).
    func testDroppingByANameSetSaysWhenConnectionListsFields() throws {
        let set = HTTPFieldNameSet(["connection", "keep-alive"])
        for (connection, listsFields) in [("close", false), ("Keep-Alive", false), ("keep-alive, X-Hop", true),
                                          ("X-Hop", true)] {
            var block = try HTTPFieldBlock(
                fieldLines: ByteBuffer(string: "A: 1\r\nConnection: \(connection)\r\nKeep-Alive: 5\r\nB: 2\r\n\r\n"))
            XCTAssertEqual(block.remove(namesIn: set), listsFields, connection)
            XCTAssertEqual(block.headers.map { "\($0.name)=\($0.value)" }, ["A=1", "B=2"], connection)
        }
    }

    /// A request head keeps the bytes it arrived in for the request's life: a slice of a small read buffer, but a
    /// copy out of a large one (which it would otherwise keep whole while a stream runs), the same fields either way.
    func testARequestHeadKeepsOnlyItsOwnBytesOfALargeReadBuffer() throws {
        let head = "POST /v1/chat/completions HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n"
        func parse(_ buffer: inout ByteBuffer) throws -> HTTPReceivedRequestHead {
            var parser = HTTPRequestParser()
            guard case .head(let parsed) = try parser.nextPart(from: &buffer) else {
                throw HTTPParserError.invalidInternalState
            }
            return parsed
        }
        func storage(_ buffer: ByteBuffer) -> UnsafeRawPointer? {
            buffer.withVeryUnsafeBytes { UnsafeRawPointer($0.baseAddress) }
        }
        var small = ByteBufferAllocator().buffer(capacity: 512)
        small.writeString(head)
        let smallStorage = storage(small)
        let fromSmall = try parse(&small)
        XCTAssertEqual(storage(fromSmall.fields.bytes), smallStorage, "a slice of the read buffer")

        var large = ByteBufferAllocator().buffer(capacity: HTTPRequestParser.sharedReadBufferLimit * 4)
        large.writeString(head)
        let largeStorage = storage(large)
        let fromLarge = try parse(&large)
        XCTAssertNotEqual(storage(fromLarge.fields.bytes), largeStorage, "its own bytes")
        XCTAssertLessThanOrEqual(fromLarge.fields.bytes.capacity, 2 * head.utf8.count)
        XCTAssertEqual(fromLarge.fields, fromSmall.fields)
        XCTAssertEqual(fromLarge.headers.map { "\($0.name)=\($0.value)" }, ["Host=a", "Content-Length=0"])
    }

    /// Values are checked eight bytes at a time: a control byte or DEL is refused wherever it lies in a value of any
    /// length (in the first word, after a word with an allowed tab, in the tail), and tab and obs-text pass.
    func testEveryByteOfAValueIsChecked() {
        for length in 1...26 {
            for position in 0..<length {
                for (byte, allowed) in [(0x00, false), (0x01, false), (0x0B, false), (0x1F, false), (0x7F, false),
                                        (0x09, true), (0x80, true), (0xFF, true), (0x20, true)] as [(UInt8, Bool)] {
                    var value = [UInt8](repeating: UInt8(ascii: "v"), count: length)
                    value[position] = byte
                    if position > 8 { value[1] = 0x09 }  // a tab in an earlier word
                    var lines = ByteBuffer(string: "X-A: ")
                    lines.writeBytes(value)
                    lines.writeString("!\r\n\r\n")  // a last visible byte: nothing is trimmed off the end
                    let block = try? HTTPFieldBlock(fieldLines: lines)
                    XCTAssertEqual(block != nil, allowed, "byte \(byte) at \(position) of \(length)")
                }
            }
        }
    }

    func testFieldLinesAreCheckedAsAHeadsAre() {
        XCTAssertThrowsError(try HTTPFieldBlock(fieldLines: ByteBuffer(string: "A: 1\r\n")), "no blank line")
        XCTAssertThrowsError(try HTTPFieldBlock(fieldLines: ByteBuffer(string: "A: 1\r\n\r\nB: 2\r\n\r\n")))
        XCTAssertThrowsError(try HTTPFieldBlock(fieldLines: ByteBuffer(string: "A: 1\r\n 2\r\n\r\n")), "obs-fold")
        XCTAssertThrowsError(try HTTPFieldBlock(fieldLines: ByteBuffer(string: "A B: 1\r\n\r\n")))
        XCTAssertThrowsError(try HTTPFieldBlock(fieldLines: ByteBuffer(string: "A: 1\n\r\n")), "bare LF")
        XCTAssertEqual(try HTTPFieldBlock(fieldLines: ByteBuffer(string: "\r\n")).count, 0)
    }

    /// Lines sent as `name: value` CRLF are copied as they came (runs of them at once); others are written in that
    /// form; dropped fields are left out wherever they stand.
    func testRelayedLinesAreWrittenInOneFormWhateverTheirSpacing() throws {
        var fields = try Self.head(
            "HTTP/1.1 200 OK\r\nA: 1\r\nB:2\r\nC: 3 \r\nD:  4\r\nConnection: close\r\nE: 5\r\nF: 6\r\nX-Empty:\r\n"
                + "G:\t7\r\nH: 8\r\nContent-Length: 0\r\n\r\n"
        ).fields
        fields.remove(name: "connection")
        var writer = HTTPResponseWriter()
        writer.requestRead(.GET)
        var buffer = ByteBuffer()
        writer.writeHead(HTTPResponseHead(version: .http1_1, status: .ok, headers: ["X-Own": "o"]), relaying: fields, into: &buffer)
        XCTAssertEqual(
            String(buffer: buffer),
            "HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\nF: 6\r\nX-Empty: \r\nG: 7\r\nH: 8\r\n"
                + "Content-Length: 0\r\nX-Own: o\r\n\r\n")
    }

    func testManyFieldsCanBeDroppedBeyondTheFirst64() throws {
        let many = (0..<100).map { ("X-\($0)", "\($0)") }
        var fields = try Self.block(many)
        fields.removeAll { _, value in value.count == 2 && value.last == UInt8(ascii: "7") || value.count == 1 }
        let kept = many.filter { !($0.1.count == 2 && $0.1.hasSuffix("7")) && $0.1.count != 1 }
        XCTAssertEqual(fields.count, kept.count)
        XCTAssertEqual(fields.headers.map(\.name), kept.map(\.0))
        XCTAssertEqual(fields, try Self.block(kept))
    }

    /// The writer's bytes for relayed fields followed by its own equal its bytes for the same fields as one
    /// `HTTPHeaders` (whose encoding `ResponseOutputTests` holds to NIO's encoder), framing rules included.
    func testRelayedFieldsAreWrittenAsTheSameHeadersWouldBe() throws {
        let cases: [(String, HTTPMethod, HTTPResponseStatus, HTTPVersion, [(String, String)], [(String, String)])] = [
            ("sized", .POST, .ok, .http1_1, [("Content-Type", "application/json"), ("Content-Length", "12")], []),
            ("own fields after", .POST, .ok, .http1_1, [("Content-Length", "2"), ("X-Up", "u")], [("Connection", "close")]),
            ("chunked added", .POST, .ok, .http1_1, [("Content-Type", "text/event-stream")], [("x-ratelimit-limit-requests", "5")]),
            ("coding dropped", .POST, .ok, .http1_1, [("Transfer-Encoding", "gzip"), ("X", "1")], []),
            ("coding and length", .POST, .ok, .http1_1, [("Transfer-Encoding", "chunked")], [("Content-Length", "3")]),
            ("HTTP/1.0", .GET, .ok, .http1_0, [("Transfer-Encoding", "chunked"), ("X", "1")], []),
            ("HEAD", .HEAD, .ok, .http1_1, [("Content-Length", "99")], []),
            ("204", .DELETE, .noContent, .http1_1, [("Content-Length", "0"), ("X", "1")], []),
            ("304", .GET, .notModified, .http1_1, [("ETag", "\"e\""), ("Transfer-Encoding", "chunked")], []),
            ("no fields", .GET, .accepted, .http1_1, [], []),
        ]
        for (name, method, status, version, relayed, own) in cases {
            var whole = HTTPResponseWriter()
            whole.requestRead(method)
            var expected = ByteBuffer()
            whole.writeHead(HTTPResponseHead(version: version, status: status, headers: HTTPHeaders(relayed + own)), into: &expected)

            var split = HTTPResponseWriter()
            split.requestRead(method)
            var actual = ByteBuffer()
            split.writeHead(
                HTTPResponseHead(version: version, status: status, headers: HTTPHeaders(own)),
                relaying: try Self.block(relayed), into: &actual)
            XCTAssertEqual(String(buffer: actual), String(buffer: expected), name)
        }
    }
}
