import XCTest

@testable import FOAPConfig

final class JSONReaderTests: XCTestCase {
    private func parse(_ text: String) throws -> JSONValue {
        try JSONReader.parse(Array(text.utf8)).value
    }

    private func syntaxError(_ text: String, file: StaticString = #filePath, line: UInt = #line) -> JSONSyntaxError? {
        self.syntaxError(bytes: Array(text.utf8), file: file, line: line)
    }

    private func syntaxError(bytes: [UInt8], file: StaticString = #filePath, line: UInt = #line) -> JSONSyntaxError? {
        do {
            let value = try JSONReader.parse(bytes)
            XCTFail("expected a syntax error, parsed \(value)", file: file, line: line)
            return nil
        } catch {
            return error
        }
    }

    func testParsesEveryKindOfValue() throws {
        let value = try self.parse(
            #" { "o": {}, "a": [1, -0.5, 2e3, 1E-2], "s": "x", "t": true, "f": false, "n": null } "#
        )
        guard case .object(let object) = value else {
            return XCTFail("not an object")
        }
        XCTAssertEqual(object.members.map(\.key), ["o", "a", "s", "t", "f", "n"])
        XCTAssertEqual(object["o"]?.value.value, .object(JSONObject(members: [])))
        guard case .array(let numbers) = object["a"]?.value.value else {
            return XCTFail("not an array")
        }
        XCTAssertEqual(numbers.map(\.value), [.number(1), .number(-0.5), .number(2000), .number(0.01)])
        XCTAssertEqual(object["s"]?.value.value, .string("x"))
        XCTAssertEqual(object["t"]?.value.value, .bool(true))
        XCTAssertEqual(object["f"]?.value.value, .bool(false))
        XCTAssertEqual(object["n"]?.value.value, .null)
    }

    func testObjectKeepsKeyOrderAsWritten() throws {
        let keys = ["zeta", "alpha", "mu", "beta", "omega", "delta", "a1", "a10", "a2"]
        let text = "{" + keys.map { "\"\($0)\": 0" }.joined(separator: ",") + "}"
        guard case .object(let object) = try self.parse(text) else {
            return XCTFail("not an object")
        }
        XCTAssertEqual(object.members.map(\.key), keys)
    }

    func testDecodesEveryEscape() throws {
        XCTAssertEqual(
            try self.parse(#""\" \\ \/ \b \f \n \r \t \u0041 \u00e9 \u00E9 \u20AC \u0000""#),
            .string("\" \\ / \u{08} \u{0C} \n \r \t A é é € \u{0}")
        )
    }

    func testDecodesSurrogatePairAndRawUTF8() throws {
        XCTAssertEqual(try self.parse(#""\ud83d\ude00 😀 Grüße""#), .string("😀 😀 Grüße"))
    }

    func testRejectsUnpairedSurrogates() {
        for text in [#""\ud83d""#, #""\ud83d x""#, #""\ude00""#, #""\ud83d\u0041""#] {
            XCTAssertEqual(self.syntaxError(text)?.message, "unpaired surrogate in \\u escape", text)
        }
    }

    func testRejectsBadEscapesAndControlCharacters() {
        XCTAssertEqual(self.syntaxError(#""\x""#)?.message, "invalid escape sequence")
        XCTAssertEqual(self.syntaxError(#""\u12G4""#)?.message, "invalid \\u escape: expected 4 hex digits")
        XCTAssertEqual(self.syntaxError("\"a\tb\"")?.message, "control character in string must be escaped")
        XCTAssertEqual(self.syntaxError("\"abc")?.message, "unterminated string")
    }

    func testRejectsInvalidUTF8InString() {
        let error = self.syntaxError(bytes: [UInt8(ascii: "\""), 0xC3, 0x28, UInt8(ascii: "\"")])
        XCTAssertEqual(error?.message, "string is not valid UTF-8")
    }

    func testRejectsNumbersOutsideTheGrammar() {
        for text in ["01", "1.", ".5", "-", "+1", "1e", "1e+", "0x10", "NaN", "Infinity", "-Infinity"] {
            XCTAssertNotNil(self.syntaxError(text), text)
        }
        XCTAssertEqual(self.syntaxError("1e400")?.message, "number out of range")
    }

    func testRejectsTrailingCommasCommentsAndTrailingContent() {
        XCTAssertNotNil(self.syntaxError(#"{"a": 1,}"#))
        XCTAssertNotNil(self.syntaxError("[1,]"))
        XCTAssertNotNil(self.syntaxError("{} // comment"))
        XCTAssertNotNil(self.syntaxError("{'a': 1}"))
        XCTAssertEqual(self.syntaxError("{} {}")?.message, "unexpected '{' after the top-level value")
        XCTAssertEqual(self.syntaxError("")?.message, "unexpected end of input, expected a value")
        XCTAssertEqual(self.syntaxError("tru")?.message, "invalid literal, expected 'true'")
    }

    func testReportsLineAndColumnOfTheMistake() {
        let text = """
            {
              "a": 1,
              "b": 2
              "c": 3
            }
            """
        let error = self.syntaxError(text)
        XCTAssertEqual(error?.position, JSONPosition(line: 4, column: 3))
        XCTAssertEqual(error?.message, "expected ',' or '}' after an object member, found '\"'")
    }

    func testColumnsCountCharactersNotBytes() {
        let error = self.syntaxError("{\"é€😀\": x}")
        XCTAssertEqual(error?.position, JSONPosition(line: 1, column: 9))
    }

    func testRejectsDuplicateKeysNamingTheFirst() {
        let error = self.syntaxError("{\n  \"gpt-4o\": 1,\n  \"gpt-4o\": 2\n}")
        XCTAssertEqual(error?.position, JSONPosition(line: 3, column: 3))
        XCTAssertEqual(error?.message, "duplicate key \"gpt-4o\" (first at line 2, column 3)")
    }

    func testLimitsNesting() throws {
        let depth = JSONReader.maximumDepth
        XCTAssertNoThrow(try self.parse(String(repeating: "[", count: depth) + String(repeating: "]", count: depth)))
        let tooDeep = String(repeating: "[", count: depth + 1) + String(repeating: "]", count: depth + 1)
        XCTAssertEqual(self.syntaxError(tooDeep)?.message, "nesting deeper than \(depth) levels")
    }

    func testSkipsByteOrderMarkAndAllowsAllJSONWhitespace() throws {
        XCTAssertEqual(
            try JSONReader.parse([0xEF, 0xBB, 0xBF] + Array(" \t\r\n{}\r\n".utf8)).value,
            .object(JSONObject(members: []))
        )
    }

    func testRecordsPositionsOfValues() throws {
        guard case .object(let object) = try self.parse("{\n  \"k\": [\n    true\n  ]\n}") else {
            return XCTFail("not an object")
        }
        let member = try XCTUnwrap(object["k"])
        XCTAssertEqual(member.keyPosition, JSONPosition(line: 2, column: 3))
        XCTAssertEqual(member.value.position, JSONPosition(line: 2, column: 8))
        guard case .array(let elements) = member.value.value else {
            return XCTFail("not an array")
        }
        XCTAssertEqual(elements.first?.position, JSONPosition(line: 3, column: 5))
    }
}
