import Glibc
import XCTest

@testable import FOAPSystemd

/// A `LogSink` over an unlinked temporary file, so a test can read back exactly the bytes a handler wrote.
final class LogCapture {
    let sink: LogSink
    private let fileDescriptor: CInt

    init() throws {
        var template = Array("/tmp/foap-log-capture-XXXXXX".utf8CString)
        let fileDescriptor = mkstemp(&template)
        guard fileDescriptor >= 0 else {
            throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO)
        }
        unlink(template)
        self.fileDescriptor = fileDescriptor
        self.sink = LogSink(fileDescriptor: fileDescriptor)
    }

    deinit {
        close(self.fileDescriptor)
    }

    /// Everything written so far.
    var bytes: [UInt8] {
        var result: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        var offset: off_t = 0
        while true {
            let count = buffer.withUnsafeMutableBytes { pread(self.fileDescriptor, $0.baseAddress, $0.count, offset) }
            guard count > 0 else {
                return result
            }
            result.append(contentsOf: buffer[0..<count])
            offset += off_t(count)
        }
    }

    var text: String {
        String(decoding: self.bytes, as: UTF8.self)
    }

    /// The records written so far, one per line, without their newline.
    var lines: [String] {
        self.text.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init)
    }

    /// Each line parsed as a JSON object with Foundation's independent parser.
    func jsonObjects(file: StaticString = #filePath, line: UInt = #line) throws -> [[String: Any]] {
        try self.lines.map { text in
            let object = try JSONSerialization.jsonObject(with: Data(text.utf8))
            return try XCTUnwrap(object as? [String: Any], "not an object: \(text)", file: file, line: line)
        }
    }
}

/// A fixed instant: 2026-11-25T22:13:04.123Z.
let pinnedTimestamp = LogTimestamp(secondsSinceEpoch: 1_795_644_784, milliseconds: 123)

/// An error whose description and type tests can predict.
struct SampleError: Error, CustomStringConvertible {
    var description: String { "upstream refused" }
}
