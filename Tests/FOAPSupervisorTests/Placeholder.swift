import XCTest
final class FOAPSupervisorTestsPlaceholder: XCTestCase { func testNothing() {} }
