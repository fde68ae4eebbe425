import FOAPRedis
import NIOCore
import NIOEmbedded
import NIOTestUtils
import XCTest

/// The decoder: every RESP2/RESP3 type, any split of the input, and garbage rejected with a clear error.
final class RESPDecoderTests: XCTestCase {
    private func bytes(_ string: String) -> ByteBuffer {
        ByteBuffer(string: string)
    }

    /// One wire form per type, with the value it must decode to.
    private var samples: [(String, RESPValue)] {
        [
            ("+OK\r\n", .simpleString(self.bytes("OK"))),
            ("-ERR unknown command 'X'\r\n", .simpleError(self.bytes("ERR unknown command 'X'"))),
            (":-42\r\n", .integer(-42)),
            ("$5\r\nhe\r\no\r\n", .bulkString(self.bytes("he\r\no"))),
            ("$0\r\n\r\n", .bulkString(self.bytes(""))),
            ("$-1\r\n", .null),
            ("*-1\r\n", .null),
            ("_\r\n", .null),
            (",1.5\r\n", .double(1.5)),
            (",-inf\r\n", .double(-.infinity)),
            ("#t\r\n", .boolean(true)),
            ("#f\r\n", .boolean(false)),
            ("(3492890328409238509324850943850943825024385\r\n",
             .bigNumber(self.bytes("3492890328409238509324850943850943825024385"))),
            ("!21\r\nSYNTAX invalid syntax\r\n", .blobError(self.bytes("SYNTAX invalid syntax"))),
            ("=15\r\ntxt:Some string\r\n", .verbatimString(format: "txt", self.bytes("Some string"))),
            ("*3\r\n:1\r\n$1\r\na\r\n*0\r\n", .array([.integer(1), .bulkString(self.bytes("a")), .array([])])),
            ("%2\r\n+first\r\n:1\r\n+second\r\n_\r\n",
             .map([RESPPair(key: .simpleString(self.bytes("first")), value: .integer(1)),
                   RESPPair(key: .simpleString(self.bytes("second")), value: .null)])),
            ("~2\r\n+a\r\n+b\r\n", .set([.simpleString(self.bytes("a")), .simpleString(self.bytes("b"))])),
            (">2\r\n+invalidate\r\n*1\r\n+k\r\n",
             .push([.simpleString(self.bytes("invalidate")), .array([.simpleString(self.bytes("k"))])])),
            ("|1\r\n+ttl\r\n:3600\r\n:7\r\n", .integer(7)),
        ]
    }

    func testTheVerifierAcceptsEveryTypeFedWholeByteByByteAndAllAtOnce() throws {
        let pairs = self.samples.map { (self.bytes($0.0), [$0.1]) }
        XCTAssertNoThrow(try ByteToMessageDecoderVerifier.verifyDecoder(inputOutputPairs: pairs) { RESPDecoder() })
    }

    func testEverySplitPointOfAPipelinedStreamYieldsTheSameValues() throws {
        let stream = self.samples.map(\.0).joined()
        let expected = self.samples.map(\.1)
        let parser = RESPParser()
        for split in 0...stream.utf8.count {
            var buffer = self.bytes(String(stream.utf8.prefix(split))!)
            var decoded: [RESPValue] = []
            while let value = try parser.parse(&buffer) {
                decoded.append(value)
            }
            buffer.writeString(String(stream.utf8.dropFirst(split))!)
            while let value = try parser.parse(&buffer) {
                decoded.append(value)
            }
            XCTAssertEqual(decoded, expected, "split at \(split)")
            XCTAssertEqual(buffer.readableBytes, 0)
        }
    }

    func testAnIncompleteValueLeavesTheBufferUntouched() throws {
        var buffer = self.bytes("*2\r\n$3\r\nfoo\r\n$3\r\nba")
        XCTAssertNil(try RESPParser().parse(&buffer))
        XCTAssertEqual(buffer.readableBytes, 19)
    }

    func testGarbageIsRejectedWithAnErrorThatSaysWhy() {
        let cases: [(String, RESPDecodingError.Reason)] = [
            ("HTTP/1.1 200 OK\r\n", .unknownType(UInt8(ascii: "H"))),
            (":12a\r\n", .invalidNumber),
            (":\r\n", .invalidNumber),
            ("$abc\r\n", .invalidNumber),
            ("$-2\r\n", .invalidNumber),
            ("*-5\r\n", .invalidNumber),
            ("$3\r\nfooXY", .missingCRLF),
            ("+OK\n", .missingCRLF),
            ("+O\rK\r\n", .missingCRLF),
            ("#x\r\n", .invalidValue),
            (",1.5.5\r\n", .invalidValue),
            (",12abc\r\n", .invalidValue),
            ("_x\r\n", .invalidValue),
            ("=3\r\ntxt\r\n", .invalidValue),
        ]
        for (input, reason) in cases {
            var buffer = self.bytes(input)
            XCTAssertThrowsError(try RESPParser().parse(&buffer), input.debugDescription) { error in
                XCTAssertEqual((error as? RESPDecodingError)?.reason, reason, input.debugDescription)
            }
        }
        XCTAssertEqual(
            "\(RESPDecodingError(.unknownType(UInt8(ascii: "H"))))", "not RESP: unknown type byte 0x48 ('H')"
        )
    }

    func testADepthBombIsRejectedBeforeItCanExhaustTheStack() {
        var buffer = self.bytes(String(repeating: "*1\r\n", count: 100_000))
        XCTAssertThrowsError(try RESPParser().parse(&buffer)) { error in
            XCTAssertEqual((error as? RESPDecodingError)?.reason, .tooDeep(limit: 32))
        }
        var allowed = self.bytes(String(repeating: "*1\r\n", count: 31) + ":1\r\n")
        XCTAssertNotNil(try RESPParser().parse(&allowed))
    }

    func testSizesOverTheLimitsAreRejectedWithoutWaitingForTheBytes() {
        let parser = RESPParser(limits: .init(maximumBulkLength: 1024, maximumLineLength: 64, maximumAggregateCount: 8))
        for (input, reason) in [
            ("$1025\r\n", RESPDecodingError.Reason.tooLarge(limit: 1024)),
            ("*9\r\n", .tooLarge(limit: 8)),
            ("+" + String(repeating: "a", count: 100), .tooLarge(limit: 64)),
            (":99999999999999999999\r\n", .invalidNumber),
        ] {
            var buffer = self.bytes(input)
            XCTAssertThrowsError(try parser.parse(&buffer), input) { error in
                XCTAssertEqual((error as? RESPDecodingError)?.reason, reason, input)
            }
        }
    }

    func testTheHandlerClosesTheChannelOnGarbage() throws {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(RESPDecoder()))
        XCTAssertThrowsError(try channel.writeInbound(self.bytes("+OK\r\nGARBAGE\r\n")))
        XCTAssertEqual(try channel.readInbound(as: RESPValue.self), .simpleString(self.bytes("OK")))
        _ = try? channel.finish()
    }
}
