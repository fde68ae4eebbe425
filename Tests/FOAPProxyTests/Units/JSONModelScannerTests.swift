import FOAPJSON
import NIOCore
import XCTest

@testable import FOAPProxy

/// `JSONModelScanner` validates a body in one pass and finds the top-level `model` (and `stream`) without building a
/// tree; `JSONModelRewriter` replaces only those value bytes.
final class JSONModelScannerTests: XCTestCase {
    private func inspect(_ json: String) throws(JSONBodyError) -> JSONBodyInspection {
        try JSONModelScanner.inspect(ByteBuffer(string: json))
    }

    private func assertError(_ json: String, _ expected: JSONBodyError, line: UInt = #line) {
        XCTAssertThrowsError(try self.inspect(json), line: line) { error in
            XCTAssertEqual(error as? JSONBodyError, expected, json, line: line)
        }
    }

    /// The text of a range of `json` (ranges are byte offsets).
    private func text(_ json: String, _ range: Range<Int>) -> String {
        String(decoding: Array(json.utf8)[range], as: UTF8.self)
    }

    func testFindsTheTopLevelModelAndItsRange() throws {
        let json = #"{"messages":[],"model":"gpt-4o","temperature":0.2}"#
        let inspection = try self.inspect(json)
        XCTAssertEqual(inspection.model, "gpt-4o")
        XCTAssertEqual(inspection.modelValueRanges.count, 1)
        XCTAssertEqual(self.text(json, inspection.modelValueRanges[0]), #""gpt-4o""#)
        XCTAssertFalse(inspection.stream)
    }

    func testNestedModelKeysAreNotTheModel() throws {
        let json = """
            {"messages":[{"role":"user","content":"x","model":"nested-1"}],
             "tools":{"model":"nested-2","deep":{"model":"nested-3"}},"model":"top",
             "metadata":{"model":{"model":"nested-4"}},"list":[["model"],{"model":1}]}
            """
        let inspection = try self.inspect(json)
        XCTAssertEqual(inspection.model, "top")
        XCTAssertEqual(inspection.modelValueRanges.map { self.text(json, $0) }, [#""top""#])
        let rewritten = JSONModelRewriter.rewrite(ByteBuffer(string: json), inspection: inspection, targetModel: "up")
        XCTAssertEqual(
            String(buffer: rewritten), json.replacingOccurrences(of: #""model":"top""#, with: #""model":"up""#))
    }

    func testModelKeyInsideAStringIsNotAKey() throws {
        let json = #"{"prompt":"{\"model\":\"evil\"}","model":"good","suffix":"\"model\":"}"#
        let inspection = try self.inspect(json)
        XCTAssertEqual(inspection.model, "good")
        XCTAssertEqual(inspection.modelValueRanges.count, 1)
    }

    /// Strings are skipped eight bytes at a time: a quote, an escape or a control byte is found at every offset
    /// from a word's start, and in the short tail after the last whole word.
    func testStringsEndAndEscapeWhereverTheyFallInAWord() throws {
        for length in 0...20 {
            for position in 0...length {
                var letters = Array(repeating: UInt8(ascii: "x"), count: length)
                if position < length {
                    letters[position] = UInt8(ascii: "y")
                }
                let plain = String(decoding: letters, as: UTF8.self)
                // A string value before the model, ending (or escaping) at `position`.
                let escaped = String(plain.prefix(position)) + #"\""# + String(plain.dropFirst(position))
                let json = #"{"a":""# + escaped + #"","model":"m-"# + plain + #""}"#
                let inspection = try self.inspect(json)
                XCTAssertEqual(inspection.model, "m-" + plain, json)
                XCTAssertEqual(self.text(json, inspection.modelValueRanges[0]), #""m-"# + plain + #"""#, json)
                // A control byte at `position` is refused where it is.
                if position < length {
                    var bad = Array(#"{"a":""#.utf8) + letters + Array(#"","model":"m"}"#.utf8)
                    let offset = #"{"a":""#.utf8.count + position
                    bad[offset] = 0x1F
                    XCTAssertThrowsError(try JSONModelScanner.inspect(ByteBuffer(bytes: bad))) { error in
                        XCTAssertEqual(error as? JSONBodyError, .notJSON(offset: offset), json)
                    }
                }
            }
        }
    }

    /// The lowest flagged byte of `escapeMask` is the first that needs escaping, for every word with one (bits above
    /// it may be false: a borrow carries upward).
    func testTheEscapeMasksLowestByteIsTheFirstThatNeedsEscaping() {
        let interesting: [UInt8] = [0x00, 0x01, 0x1F, 0x20, 0x21, 0x22, 0x23, 0x5B, 0x5C, 0x5D, 0x7F, 0x80, 0xFF]
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<20_000 {
            let bytes = (0..<8).map { _ in interesting.randomElement(using: &generator)! }
            let word = bytes.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }.littleEndian
            let first = bytes.firstIndex { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }
            let mask = JSONStringEscaping.escapeMask(word)
            XCTAssertEqual(mask == 0 ? nil : mask.trailingZeroBitCount >> 3, first, "\(bytes)")
        }
    }

    func testEscapesInTheModelValueAreDecoded() throws {
        let json = #"{"model":"meta-llama\/Llama\u002d3 \"q\" \\ \ud83d\ude00 \u00e9"}"#
        let inspection = try self.inspect(json)
        XCTAssertEqual(inspection.model, "meta-llama/Llama-3 \"q\" \\ 😀 é")
        XCTAssertEqual(self.text(json, inspection.modelValueRanges[0]), String(json.dropFirst(9).dropLast()))
    }

    func testNonASCIIModelIsKeptAsUTF8() throws {
        let json = #"{"model":"модель-ü"}"#
        let inspection = try self.inspect(json)
        XCTAssertEqual(inspection.model, "модель-ü")
        XCTAssertEqual(self.text(json, inspection.modelValueRanges[0]), #""модель-ü""#)
    }

    func testDuplicateModelKeysLastWinsAndEveryOneIsRewritten() throws {
        // An upstream parser may take the first or the last: both must be rewritten so neither reaches it unmapped.
        let json = #"{"model":"a","x":1,"model":"b"}"#
        let inspection = try self.inspect(json)
        XCTAssertEqual(inspection.model, "b")
        XCTAssertEqual(inspection.modelValueRanges.count, 2)
        let rewritten = JSONModelRewriter.rewrite(ByteBuffer(string: json), inspection: inspection, targetModel: "t")
        XCTAssertEqual(String(buffer: rewritten), #"{"model":"t","x":1,"model":"t"}"#)
    }

    /// Names that need no escaping are copied in one pass; any other one goes through the escaping writer.
    func testTheTargetNameIsEscapedOnlyWhenItMustBe() throws {
        let json = #"{"model":"a","messages":[],"model":"b"}"#
        let inspection = try self.inspect(json)
        let plain = JSONModelRewriter.rewrite(
            ByteBuffer(string: json), inspection: inspection, targetModel: "meta-llama/Llama-3.1-8B-Instruct")
        XCTAssertEqual(
            String(buffer: plain),
            #"{"model":"meta-llama/Llama-3.1-8B-Instruct","messages":[],"model":"meta-llama/Llama-3.1-8B-Instruct"}"#)
        let escaped = JSONModelRewriter.rewrite(ByteBuffer(string: json), inspection: inspection, targetModel: #"q"u\o"#)
        XCTAssertEqual(String(buffer: escaped), #"{"model":"q\"u\\o","messages":[],"model":"q\"u\\o"}"#)
    }

    func testAnEscapedModelKeyIsStillTheModelKey() throws {
        // `"mod\u0065l"` is the key `model` to every JSON parser; routing by an earlier plain `model` and leaving
        // this one unrewritten would let a client reach an upstream model that no config entry allows.
        let json = #"{"model":"cheap","mod\u0065l":"expensive"}"#
        let inspection = try self.inspect(json)
        XCTAssertEqual(inspection.model, "expensive")
        XCTAssertEqual(inspection.modelValueRanges.count, 2)
        let rewritten = JSONModelRewriter.rewrite(ByteBuffer(string: json), inspection: inspection, targetModel: "t")
        XCTAssertEqual(String(buffer: rewritten), #"{"model":"t","mod\u0065l":"t"}"#)
        XCTAssertTrue(try self.inspect(#"{"str\u0065am":true,"model":"m"}"#).stream)
    }

    func testWhitespaceEverywhere() throws {
        let json = " \r\n\t{ \n\"model\" \t:\r\n \"m\" , \"stream\"\n:\ttrue \n}\n\t "
        let inspection = try self.inspect(json)
        XCTAssertEqual(inspection.model, "m")
        XCTAssertEqual(self.text(json, inspection.modelValueRanges[0]), #""m""#)
        XCTAssertTrue(inspection.stream)
        let rewritten = JSONModelRewriter.rewrite(ByteBuffer(string: json), inspection: inspection, targetModel: "up")
        XCTAssertEqual(String(buffer: rewritten), json.replacingOccurrences(of: #""m""#, with: #""up""#))
    }

    func testStreamFlagIsOnlyTopLevelLiteralTrue() throws {
        XCTAssertTrue(try self.inspect(#"{"model":"m","stream":true}"#).stream)
        XCTAssertFalse(try self.inspect(#"{"model":"m","stream":false}"#).stream)
        XCTAssertFalse(try self.inspect(#"{"model":"m","stream":"true"}"#).stream)
        XCTAssertFalse(try self.inspect(#"{"model":"m","stream":null}"#).stream)
        XCTAssertFalse(try self.inspect(#"{"model":"m","options":{"stream":true}}"#).stream)
        XCTAssertFalse(try self.inspect(#"{"model":"m","stream":true,"stream":false}"#).stream)
    }

    func testEveryJSONValueKindIsSkipped() throws {
        let json = """
            {"a":-1.5e+10,"b":[true,false,null,{},[],"",0,-0.0,1E3],"c":{"d":{"e":[{"f":"\\u0000\\n"}]}},"model":"m"}
            """
        XCTAssertEqual(try self.inspect(json).model, "m")
        XCTAssertEqual(try self.inspect(#"{"model":""}"#).model, "")
    }

    func testNotJSONReportsAnOffset() {
        self.assertError("", .notJSON(offset: 0))
        self.assertError("   ", .notJSON(offset: 3))
        self.assertError(#"{"model":"m""#, .notJSON(offset: 12))
        self.assertError(#"{"model":"m"} x"#, .notJSON(offset: 14))
        self.assertError(#"{"model":"m",}"#, .notJSON(offset: 13))
        self.assertError(#"{model:"m"}"#, .notJSON(offset: 1))
        self.assertError(#"{"model" "m"}"#, .notJSON(offset: 9))
        self.assertError(#"{"model":"m"]"#, .notJSON(offset: 12))
        self.assertError(#"{"model":"m","x":tru}"#, .notJSON(offset: 17))
        self.assertError(#"{"model":"m","x":[1,]}"#, .notJSON(offset: 20))
        self.assertError(#"{"model":"m","x":'a'}"#, .notJSON(offset: 17))
        self.assertError("{\"model\":\"a\nb\"}", .notJSON(offset: 11))
        self.assertError(#"{"model":"bad \x escape"}"#, .notJSON(offset: 15))
        self.assertError(#"{"model":"bad \u12G4"}"#, .notJSON(offset: 18))
        self.assertError(#"{"model":"unterminated\"}"#, .notJSON(offset: 25))
    }

    func testNotAnObjectIsTold() {
        for json in ["[1,2]", #""model""#, "42", "null", " true "] {
            self.assertError(json, .notAnObject)
        }
        self.assertError("[1,2", .notJSON(offset: 4))
    }

    func testMissingOrNonStringModel() {
        self.assertError("{}", .missingModel)
        self.assertError(#"{"messages":[{"model":"nested"}]}"#, .missingModel)
        self.assertError(#"{"model":42}"#, .modelNotString)
        self.assertError(#"{"model":null}"#, .modelNotString)
        self.assertError(#"{"model":["a"]}"#, .modelNotString)
        // Any one that is not a string: a parser that keeps the first `model` would read that one.
        self.assertError(#"{"model":"a","model":{}}"#, .modelNotString)
        self.assertError(#"{"model":{},"model":"a"}"#, .modelNotString)
        self.assertError(#"{"model":1,"model":"a"}"#, .modelNotString)
    }

    /// Go's `encoding/json` matches member names to fields in any letter case, and the last match wins: an Ollama
    /// upstream would run `Model`'s value, which foap never checked.
    func testAModelMemberInOtherLetterCaseIsRefused() throws {
        self.assertError(#"{"model":"a","Model":"secret"}"#, .modelInOtherCase)
        self.assertError(#"{"MODEL":"secret","model":"a"}"#, .modelInOtherCase)
        self.assertError(#"{"model":"a","mOdEl":"secret"}"#, .modelInOtherCase)
        self.assertError(#"{"model":"a","\u004dodel":"secret"}"#, .modelInOtherCase)
        self.assertError(#"{"Model":"secret"}"#, .modelInOtherCase)
        // Other members of the same length, nested ones and values are not members named `model`.
        XCTAssertEqual(try self.inspect(#"{"input":"x","tools":[],"store":true,"model":"a"}"#).model, "a")
        XCTAssertEqual(try self.inspect(#"{"model":"a","meta":{"Model":"x"},"note":"Model"}"#).model, "a")
        XCTAssertEqual(try self.inspect(#"{"model":"a","mode1":"x","m0del":"y"}"#).model, "a")
    }

    func testDeepNestingIsRejectedWithoutExhaustingTheStack() {
        let deep =
            #"{"model":"m","x":"# + String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
            + "}"
        XCTAssertThrowsError(try self.inspect(deep))
        let fine = #"{"model":"m","x":"# + String(repeating: "[", count: 400) + String(repeating: "]", count: 400) + "}"
        XCTAssertEqual(try self.inspect(fine).model, "m")
    }

    func testHugeBodyIsScannedAndRewrittenByteForByte() throws {
        let content = String(repeating: "lorem ipsum \\\"quoted\\\" \\u00e9 ", count: 200_000)  // ~6 MB
        let json = #"{"messages":[{"role":"user","content":"\#(content)"}],"model":"big","n":1}"#
        let body = ByteBuffer(string: json)
        let inspection = try JSONModelScanner.inspect(body)
        XCTAssertEqual(inspection.model, "big")
        let rewritten = JSONModelRewriter.rewrite(body, inspection: inspection, targetModel: "upstream-big")
        XCTAssertEqual(rewritten.readableBytes, body.readableBytes + 9)
        XCTAssertEqual(
            String(buffer: rewritten),
            json.replacingOccurrences(of: #""model":"big""#, with: #""model":"upstream-big""#))
    }

    func testScannerHonoursTheBufferReaderIndex() throws {
        var buffer = ByteBuffer(string: "garbage")
        buffer.moveReaderIndex(forwardBy: 7)
        buffer.writeString(#"{"model":"m"}"#)
        let inspection = try JSONModelScanner.inspect(buffer)
        XCTAssertEqual(inspection.modelValueRanges, [9..<12])
        XCTAssertEqual(
            String(buffer: JSONModelRewriter.rewrite(buffer, inspection: inspection, targetModel: "t")),
            #"{"model":"t"}"#)
    }
}

/// `JSONModelRewriter` on its own: the target name is escaped, the rest is copied.
final class JSONModelRewriterTests: XCTestCase {
    func testTargetNameIsWrittenAsAJSONString() throws {
        let json = #"{"model":"m"}"#
        let inspection = try JSONModelScanner.inspect(ByteBuffer(string: json))
        let rewritten = JSONModelRewriter.rewrite(
            ByteBuffer(string: json), inspection: inspection, targetModel: "a\"b\\c\nd")
        XCTAssertEqual(String(buffer: rewritten), #"{"model":"a\"b\\c\nd"}"#)
        XCTAssertEqual(try JSONModelScanner.inspect(rewritten).model, "a\"b\\c\nd")
    }

    func testSameNameReturnsTheBodyUnchanged() throws {
        let json = #"{ "model" : "same" , "x" : [ 1 ] }"#
        let body = ByteBuffer(string: json)
        let inspection = try JSONModelScanner.inspect(body)
        XCTAssertEqual(JSONModelRewriter.rewrite(body, inspection: inspection, targetModel: "same"), body)
    }

    func testEscapedSpellingOfTheSameNameIsNormalised() throws {
        let json = #"{"model":"s\u0061me"}"#
        let inspection = try JSONModelScanner.inspect(ByteBuffer(string: json))
        // Same decoded value: forwarding the original literal is equally correct.
        let rewritten = JSONModelRewriter.rewrite(ByteBuffer(string: json), inspection: inspection, targetModel: "same")
        XCTAssertEqual(try JSONModelScanner.inspect(rewritten).model, "same")
    }
}
