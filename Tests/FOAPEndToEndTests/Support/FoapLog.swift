import Foundation
import NIOConcurrencyHelpers

/// One JSON log line of foap (master or worker), its values flattened to strings.
struct LogRecord: Sendable, CustomStringConvertible {
    let fields: [String: String]

    var message: String { self.fields["msg"] ?? "" }
    subscript(key: String) -> String? { self.fields[key] }
    var description: String {
        self.fields.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
    }
}

/// The stdout/stderr file foap's master and workers share, read incrementally: the access log makes it grow fast,
/// so each look parses only the lines added since the last one.
final class FoapLog: Sendable {
    let url: URL
    private let state = NIOLockedValueBox<(offset: Int, partial: Data, records: [LogRecord], other: [String])>(
        (0, Data(), [], [])
    )

    init(url: URL) {
        self.url = url
    }

    /// Every record logged so far, except access records (`msg` = `request`), in file order.
    var records: [LogRecord] {
        self.refresh()
        return self.state.withLockedValue { $0.records }
    }

    /// Records with this message, optionally filtered by field values.
    func records(_ message: String, where fields: [String: String] = [:]) -> [LogRecord] {
        self.records.filter { record in
            record.message == message && fields.allSatisfy { record[$0.key] == $0.value }
        }
    }

    /// Lines that are not JSON (a crash message, a Swift runtime error), which no test expects.
    var nonJSONLines: [String] {
        self.refresh()
        return self.state.withLockedValue { $0.other }
    }

    /// The whole file as written, access records included.
    var text: String {
        (try? String(contentsOf: self.url, encoding: .utf8)) ?? ""
    }

    /// The lines whose `msg` is `message`, as written (access records, `request`, included: `records` leaves them out).
    func lines(_ message: String) -> [String] {
        self.text.split(separator: "\n").map(String.init).filter { $0.contains(#""msg":"\#(message)""#) }
    }

    /// The access records (`msg` = `request`) of `route`, parsed, in file order. `records` leaves access records
    /// out (they are most of the file); tests that count them read them here.
    func accessRecords(route: String) -> [[String: Any]] {
        self.text.split(separator: "\n").compactMap { line -> [String: Any]? in
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                object["msg"] as? String == "request", object["route"] as? String == route
            else { return nil }
            return object
        }
    }

    /// The last `count` lines of the file, for failure messages.
    func tail(_ count: Int = 40) -> String {
        let text = (try? String(contentsOf: self.url, encoding: .utf8)) ?? "(no log)"
        return text.split(separator: "\n", omittingEmptySubsequences: false).suffix(count).joined(separator: "\n")
    }

    private func refresh() {
        guard let handle = try? FileHandle(forReadingFrom: self.url) else { return }
        defer { try? handle.close() }
        self.state.withLockedValue { state in
            try? handle.seek(toOffset: UInt64(state.offset))
            guard let data = try? handle.readToEnd(), !data.isEmpty else { return }
            state.offset += data.count
            var pending = state.partial + data
            while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                let line = pending[pending.startIndex..<newline]
                pending = Data(pending[pending.index(after: newline)...])
                Self.parse(Data(line), into: &state.records, other: &state.other)
            }
            state.partial = pending
        }
    }

    private static func parse(_ line: Data, into records: inout [LogRecord], other: inout [String]) {
        guard !line.isEmpty else { return }
        guard let object = try? JSONSerialization.jsonObject(with: line) as? [String: Any] else {
            other.append(String(decoding: line, as: UTF8.self))
            return
        }
        if object["msg"] as? String == "request" {
            return
        }
        var fields: [String: String] = [:]
        for (key, value) in object {
            fields[key] = "\(value)"
        }
        records.append(LogRecord(fields: fields))
    }
}
