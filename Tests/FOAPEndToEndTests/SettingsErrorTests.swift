import Foundation
import XCTest

/// A mistyped setting stops `foap serve` before it binds anything, with a message naming the variable.
final class SettingsErrorTests: XCTestCase {
    func testInvalidSettingsAreRefusedWithAClearMessage() throws {
        let cases: [(variable: String, value: String, message: String)] = [
            ("FOAP_PORT", "abc", "FOAP_PORT=abc is not a whole number"),
            ("FOAP_PORT", "70000", "port 70000 is out of range"),
            ("FOAP_WORKERS", "-1", "FOAP_WORKERS=-1 is not a whole number"),
            ("FOAP_DRAIN_TIMEOUT", "0", "FOAP_DRAIN_TIMEOUT=0 is not a positive number of seconds"),
            ("FOAP_KEEPALIVE_TIMEOUT", "soon", "FOAP_KEEPALIVE_TIMEOUT=soon is not a positive number of seconds"),
            ("FOAP_LOGLEVEL", "loud", "log level 'loud' is not one of"),
            ("FOAP_LOG_FORMAT", "xml", "log format 'xml' is not one of"),
        ]
        for entry in cases {
            let result = try runFoap(
                ["serve", "--host", "127.0.0.1", "--config-dir", "/nonexistent"],
                environment: [entry.variable: entry.value]
            )
            XCTAssertNotEqual(result.status, 0, "\(entry.variable)=\(entry.value) was accepted")
            XCTAssertTrue(result.stderr.contains(entry.message), "\(entry.variable): \(result.stderr)")
        }
    }
}
