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

    /// The escaper scans eight bytes at a time: whatever the position of a byte that needs escaping in a word (or
    /// several, or bytes above 0x7F beside them), the output equals a byte-by-byte escape.
    func testTheWordAtATimeScanEscapesWhatTheByteByByteOneWould() {
        func reference(_ text: String) -> String {
            var out: [UInt8] = [UInt8(ascii: "\"")]
            for byte in text.utf8 {
                switch byte {
                case UInt8(ascii: "\""): out += Array("\\\"".utf8)
                case UInt8(ascii: "\\"): out += Array("\\\\".utf8)
                case 0x08: out += Array("\\b".utf8)
                case 0x0C: out += Array("\\f".utf8)
                case 0x0A: out += Array("\\n".utf8)
                case 0x0D: out += Array("\\r".utf8)
                case 0x09: out += Array("\\t".utf8)
                case 0..<0x20: out += Array(("\\u00" + (byte < 0x10 ? "0" : "") + String(byte, radix: 16)).utf8)
                default: out.append(byte)
                }
            }
            return String(decoding: out + [UInt8(ascii: "\"")], as: UTF8.self)
        }
        let pieces = ["a", "model", "\"", "\\", "\n", "\u{1}", "\u{1F}", " ", "~", "\u{7F}", "é", "🚀", "!", "#", "[", "]"]
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15  // a fixed sequence (an LCG): the same strings on every run
        func next(_ bound: Int) -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int(state >> 33) % bound
        }
        for _ in 0..<2_000 {
            let text = (0..<next(40)).map { _ in pieces[next(pieces.count)] }.joined()
            XCTAssertEqual(self.string(text), reference(text), text.debugDescription)
        }
        for position in 0..<24 {
            for special in ["\"", "\\", "\u{0}", "\u{1F}"] {
                let text = String(repeating: "x", count: position) + special + String(repeating: "y", count: 23 - position)
                XCTAssertEqual(self.string(text), reference(text), text.debugDescription)
            }
        }
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
