import NIOCore
import NIOPosix
import XCTest

@testable import FOAPProxy

/// `LoopFlushBatch` on a real event loop: flushes wait for the code that asked to return, run in the order asked,
/// once each, and a flush asked for while the batch flushes goes into the next batch.
final class LoopFlushBatchTests: XCTestCase {
    /// Notes every flush in a log shared by the writers of a test (used on the loop only).
    private final class Writer: BatchedFlushing {
        let name: String
        let log: Log
        /// Asked to be flushed again from inside its first flush, through this batch.
        var askAgainThrough: LoopFlushBatch?

        init(_ name: String, log: Log) {
            self.name = name
            self.log = log
        }

        func flushBatched() {
            self.log.entries.append(self.name)
            if let batch = self.askAgainThrough {
                self.askAgainThrough = nil
                batch.flushSoon(self)
                self.log.entries.append("\(self.name) asked again")
            }
        }
    }

    private final class Log: @unchecked Sendable {
        var entries: [String] = []
    }

    private var group: MultiThreadedEventLoopGroup!

    override func setUp() {
        self.group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    }

    override func tearDown() {
        try? self.group.syncShutdownGracefully()
    }

    func testFlushesWaitForTheAskingCodeAndRunInOrderOnceEach() throws {
        let loop = self.group.next()
        let batch = LoopFlushBatch(eventLoop: loop)
        let log = Log()
        try loop.submit {
            let first = Writer("first", log: log)
            let second = Writer("second", log: log)
            batch.flushSoon(first)
            batch.flushSoon(second)
            log.entries.append("handler returns")
        }.wait()
        try loop.submit {}.wait()  // queued after the batch's task
        XCTAssertEqual(log.entries, ["handler returns", "first", "second"])
    }

    func testAFlushAskedWhileTheBatchFlushesGoesIntoTheNextBatch() throws {
        let loop = self.group.next()
        let batch = LoopFlushBatch(eventLoop: loop)
        let log = Log()
        try loop.submit {
            let again = Writer("again", log: log)
            again.askAgainThrough = batch
            batch.flushSoon(again)
            batch.flushSoon(Writer("other", log: log))
        }.wait()
        try loop.submit {}.wait()
        try loop.submit {}.wait()
        XCTAssertEqual(log.entries, ["again", "again asked again", "other", "again"])
        // The batch runs again later: a writer asked for afterwards is flushed too.
        try loop.submit { batch.flushSoon(Writer("later", log: log)) }.wait()
        try loop.submit {}.wait()
        XCTAssertEqual(log.entries.last, "later")
    }
}
