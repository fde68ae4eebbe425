import XCTest
final class FOAPConfigTestsPlaceholder: XCTestCase { func testNothing() {} }
