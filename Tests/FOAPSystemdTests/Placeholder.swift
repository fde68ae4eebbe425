import XCTest
final class FOAPSystemdTestsPlaceholder: XCTestCase { func testNothing() {} }
