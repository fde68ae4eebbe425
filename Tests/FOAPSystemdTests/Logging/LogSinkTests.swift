import Dispatch
import Glibc
import XCTest

@testable import FOAPSystemd

final class LogSinkTests: XCTestCase {
    /// A pipe whose read end a background thread drains until every writer is done.
    private final class DrainedPipe: @unchecked Sendable {
        // @unchecked: `received` is written only by the drain thread and read after `finish()` joined it.
        let writeEnd: CInt
        private let readEnd: CInt
        private var received: [UInt8] = []
        private let done = DispatchSemaphore(value: 0)

        init(nonBlockingWrites: Bool) throws {
            var ends: [CInt] = [0, 0]
            guard pipe(&ends) == 0 else {
                throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO)
            }
            self.readEnd = ends[0]
            self.writeEnd = ends[1]
            if nonBlockingWrites {
                _ = fcntl(self.writeEnd, F_SETFL, fcntl(self.writeEnd, F_GETFL) | O_NONBLOCK)
            }
            Thread.detachNewThread { [self] in
                var buffer = [UInt8](repeating: 0, count: 65536)
                while true {
                    let count = buffer.withUnsafeMutableBytes { read(self.readEnd, $0.baseAddress, $0.count) }
                    if count > 0 {
                        self.received.append(contentsOf: buffer[0..<count])
                    } else if count == 0 || errno != EINTR {
                        break
                    }
                }
                self.done.signal()
            }
        }

        /// Closes the write end and returns everything the reader saw.
        func finish() -> [UInt8] {
            close(self.writeEnd)
            self.done.wait()
            close(self.readEnd)
            return self.received
        }
    }

    func testConcurrentRecordsNeverInterleave() throws {
        let pipe = try DrainedPipe(nonBlockingWrites: false)
        let sink = LogSink(fileDescriptor: pipe.writeEnd)
        let writers = 4
        let recordsPerWriter = 200
        // Lengths up to 12 KiB: well past PIPE_BUF (4 KiB), where the kernel alone would interleave writes.
        let fillerLength: @Sendable (Int) -> Int = { index in index * 61 % 12_000 }

        DispatchQueue.concurrentPerform(iterations: writers) { writer in
            let letter = UInt8(ascii: "a") + UInt8(writer)
            for index in 0..<recordsPerWriter {
                let header = Array("\(writer) \(index) ".utf8)
                sink.write(header + [UInt8](repeating: letter, count: fillerLength(index)) + [UInt8(ascii: "\n")])
            }
        }

        let lines = pipe.finish().split(separator: UInt8(ascii: "\n"))
        XCTAssertEqual(lines.count, writers * recordsPerWriter)
        var seen = Set<[Int]>()
        for line in lines {
            let parts = line.split(separator: UInt8(ascii: " "), maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count == 3, let writer = Int(String(decoding: parts[0], as: UTF8.self)),
                let index = Int(String(decoding: parts[1], as: UTF8.self))
            else {
                XCTFail("interleaved: \(String(decoding: line.prefix(40), as: UTF8.self))")
                continue
            }
            let letter = UInt8(ascii: "a") + UInt8(writer)
            XCTAssertEqual(parts[2].count, fillerLength(index))
            XCTAssertFalse(parts[2].contains { $0 != letter }, "record \(writer) \(index) was interleaved")
            seen.insert([writer, index])
        }
        XCTAssertEqual(seen.count, writers * recordsPerWriter)
    }

    func testFinishesPartialWritesOnANonBlockingDescriptor() throws {
        let pipe = try DrainedPipe(nonBlockingWrites: true)
        let sink = LogSink(fileDescriptor: pipe.writeEnd)
        // Four times the default pipe capacity: the write can only complete in parts, with EAGAIN in between.
        let record = (0..<(256 * 1024)).map { UInt8(truncatingIfNeeded: $0 % 251) } + [UInt8(ascii: "\n")]

        sink.write(record)
        sink.write(Array("next\n".utf8))

        XCTAssertEqual(pipe.finish(), record + Array("next\n".utf8))
    }

    func testWriteFullyReportsFailureOnABadDescriptor() {
        let bytes: [UInt8] = Array("lost\n".utf8)
        let succeeded = bytes.withUnsafeBytes { LogSink.writeFully($0, to: -1) }
        XCTAssertFalse(succeeded)
    }

    func testDefaultSinkIsStandardOutput() {
        XCTAssertEqual(LogSink.standardOutput.fileDescriptor, STDOUT_FILENO)
        XCTAssertEqual(LogSink().fileDescriptor, STDOUT_FILENO)
    }
}
