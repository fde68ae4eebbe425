import Logging
import XCTest

@testable import FOAPSystemd

final class JSONBytesTests: XCTestCase {
    private func string(_ text: String) -> String {
        var buffer: [UInt8] = []
        JSONBytes.appendString(text, to: &buffer)
        return String(decoding: buffer, as: UTF8.self)
    }

    private func value(_ value: Logger.MetadataValue) -> String {
        var buffer: [UInt8] = []
        JSONBytes.appendValue(value, to: &buffer)
        return String(decoding: buffer, as: UTF8.self)
    }

    func testEscapesQuoteBackslashAndNamedControls() {
        XCTAssertEqual(self.string(#"say "hi" \ bye"#), #""say \"hi\" \\ bye""#)
        XCTAssertEqual(self.string("a\nb\rc\td\u{8}e\u{C}f"), #""a\nb\rc\td\be\ff""#)
    }

    func testEscapesOtherControlsAsUnicodeEscapes() {
        XCTAssertEqual(self.string("\u{0}\u{1}\u{1F}"), #""\u0000\u0001\u001f""#)
    }

    func testLeavesNonASCIIAndDeleteAlone() {
        XCTAssertEqual(self.string("modèle 🚀 \u{2028} \u{7F}"), "\"modèle 🚀 \u{2028} \u{7F}\"")
    }

    func testEveryASCIICharacterRoundTripsThroughFoundation() throws {
        let all = String(decoding: (0..<128).map { UInt8($0) }, as: UTF8.self) + "é🚀"
        let document = "[" + self.string(all) + "]"
        let parsed = try JSONSerialization.jsonObject(with: Data(document.utf8)) as? [String]
        XCTAssertEqual(parsed, [all])
    }

    func testNestedMetadataBecomesObjectsAndArraysWithSortedKeys() {
        let nested: Logger.MetadataValue = .dictionary([
            "b": .array(["1", .stringConvertible(2), .dictionary([:])]),
            "a": "x\"y",
        ])
        XCTAssertEqual(self.value(nested), #"{"a":"x\"y","b":["1","2",{}]}"#)
        XCTAssertEqual(self.value(.array([])), "[]")
    }
}
