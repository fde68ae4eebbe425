import XCTest
final class FOAPProxyTestsPlaceholder: XCTestCase { func testNothing() {} }
