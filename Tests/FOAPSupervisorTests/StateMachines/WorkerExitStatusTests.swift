import Glibc
import XCTest

@testable import FOAPSupervisor

/// The exit status as the crash log line prints it.
final class WorkerExitStatusTests: XCTestCase {
    func testDescriptionsNameSignalsOnceAndKeepUnnamedOnesAsNumbers() {
        XCTAssertEqual(WorkerExitStatus.exited(code: 3).description, "exit code 3")
        XCTAssertEqual(WorkerExitStatus.signaled(signal: SIGKILL).description, "signal SIGKILL")
        XCTAssertEqual(WorkerExitStatus.signaled(signal: 34).description, "signal 34")
    }
}
