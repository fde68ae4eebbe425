import XCTest

@testable import FOAPSystemd

final class JournalFieldNameTests: XCTestCase {
    func testMapsKeysToPrefixedUpperCaseNames() {
        let cases: [(key: String, name: String)] = [
            ("model", "FOAP_MODEL"),
            ("request_id", "FOAP_REQUEST_ID"),
            ("duration_ms", "FOAP_DURATION_MS"),
            ("foap.model", "FOAP_MODEL"),
            ("FOAP_MODEL", "FOAP_MODEL"),
            ("foap", "FOAP_FOAP"),
            ("upstream.host-name", "FOAP_UPSTREAM_HOST_NAME"),
            ("modèle", "FOAP_MOD_LE"),
            ("🚀x", "FOAP_X"),
            ("_private", "FOAP_PRIVATE"),
            ("__", "FOAP_UNNAMED"),
            ("", "FOAP_UNNAMED"),
            ("foap.", "FOAP_UNNAMED"),
            ("2xx", "FOAP_X2XX"),
            ("_9", "FOAP_X9"),
            ("a=b\nc", "FOAP_A_B_C"),
        ]
        for (key, name) in cases {
            XCTAssertEqual(JournalFieldName.make(forMetadataKey: key), name, "key \(key.debugDescription)")
        }
    }

    func testTruncatesToSixtyFourBytes() {
        let name = JournalFieldName.make(forMetadataKey: String(repeating: "k", count: 200))
        XCTAssertEqual(name.utf8.count, 64)
        XCTAssertEqual(name, "FOAP_" + String(repeating: "K", count: 59))
    }

    func testEveryProducedNameIsValidForJournald() {
        let keys = ["", "_", "9", "é", "a b", String(repeating: "ü", count: 100), "\u{0}", "=", "foap_", "x.y.z"]
        for key in keys {
            let name = JournalFieldName.make(forMetadataKey: key)
            XCTAssertTrue(SystemdJournalSender.isValidFieldName(name), "\(key.debugDescription) -> \(name)")
            XCTAssertTrue(name.hasPrefix("FOAP_"))
            let first = name.utf8[name.utf8.index(name.utf8.startIndex, offsetBy: 5)]
            XCTAssertTrue((UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(first), name)
        }
    }

    func testFieldNameValidityFollowsJournaldRules() {
        XCTAssertTrue(SystemdJournalSender.isValidFieldName("MESSAGE"))
        XCTAssertTrue(SystemdJournalSender.isValidFieldName("_PID"))
        XCTAssertFalse(SystemdJournalSender.isValidFieldName(""))
        XCTAssertFalse(SystemdJournalSender.isValidFieldName("1ABC"))
        XCTAssertFalse(SystemdJournalSender.isValidFieldName("lower"))
        XCTAssertFalse(SystemdJournalSender.isValidFieldName("A=B"))
        XCTAssertFalse(SystemdJournalSender.isValidFieldName(String(repeating: "A", count: 65)))
    }
}
