import FOAPJSON
import Logging

/// Writes JSON-line records whose fields are known at compile time, without a `Logger.Metadata` dictionary.
///
/// The access log writes one record per request. Going through `Logger` means building a dictionary of ~17
/// entries (hashing every key), sorting its keys in the handler and switching over each value: ~46,000
/// instructions per proxied request in bench/profile, 15 % of the whole request. This writer appends the fields
/// straight into the line. Its lines look exactly like `JSONLogHandler`'s (same fixed keys, same process
/// metadata, same escaping), so readers cannot tell the two paths apart.
public struct JSONRecordWriter: Sendable {
    private let sink: LogSink
    /// `,"label":"…"` followed by the rendered process metadata, built once.
    private let fixedTail: [UInt8]
    /// Where timestamps come from; tests pin it.
    var clock: @Sendable () -> LogTimestamp = LogTimestamp.now

    /// - Parameters:
    ///   - label: Written as `"label"`, like `Logger(label:)`.
    ///   - sink: Share the sink of the process's log handlers, so lines never interleave.
    ///   - metadata: The process metadata every record carries (`pid`, `worker`, `generation`).
    public init(label: String, sink: LogSink = .standardOutput, metadata: Logger.Metadata = [:]) {
        self.sink = sink
        var tail: [UInt8] = Array(#","label":"#.utf8)
        JSONBytes.appendString(label, to: &tail)
        for key in metadata.keys.sorted() {
            JSONLogHandler.appendMember(key: key, value: metadata[key]!, to: &tail)
        }
        self.fixedTail = tail
    }

    /// Writes one record: the fixed keys, the process metadata, then the members `fields` appends, in its order.
    /// Callers append their fields in key order to match `JSONLogHandler`, which sorts record metadata.
    public func write(level: Logger.Level, message: StaticString, fields: (inout JSONMembers) -> Void) {
        self.write(level: level, message: message, into: nil, fields: fields)
    }

    /// A batch whose records go where this writer's do.
    public func makeBatch() -> LogBatch {
        LogBatch(sink: self.sink)
    }

    /// Writes one record, as `write(level:message:fields:)` does, or adds it to `batch` (which writes it when it
    /// is flushed).
    public func write(
        level: Logger.Level, message: StaticString, into batch: LogBatch?, fields: (inout JSONMembers) -> Void
    ) {
        // On the stack: room for a whole access record with its process metadata, so the common line allocates
        // nothing (a longer one moves to the heap).
        withUnsafeTemporaryAllocation(byteCount: 1024, alignment: 1) { storage in
            var members = JSONMembers(line: LineBuffer(storage: storage))
            defer { members.line.release() }
            Self.appendFixedKeys(timestamp: self.clock(), level: level, to: &members.line)
            members.line.appendJSONQuoted(message)
            self.fixedTail.withUnsafeBytes { members.line.append(bytes: $0) }
            fields(&members)
            members.line.append("}\n")
            if let batch {
                members.line.withUnsafeBytes { batch.append($0) }
            } else {
                members.line.withUnsafeBytes { self.sink.write($0) }
            }
        }
    }

    /// What every record of one level and message carries between its timestamp and its own fields, rendered once.
    public struct Opening: Sendable {
        /// `","level":"info","msg":"request"` and the fixed tail.
        fileprivate let bytes: [UInt8]
    }

    /// The opening of the records of `level` and `message`, for `write(_:into:fields:)`.
    public func opening(level: Logger.Level, message: StaticString) -> Opening {
        var bytes: [UInt8] = []
        bytes.append(#"","level":"#)
        bytes.appendJSONQuoted(level.rawValue)
        bytes.append(#","msg":"#)
        bytes.appendJSONQuoted(message)
        bytes += self.fixedTail
        return Opening(bytes: bytes)
    }

    /// Adds one record to `batch`, as `write(level:message:into:fields:)` does, with its opening rendered ahead and
    /// its timestamp from the batch's cache: the access log's way, one record per request.
    public func write(_ opening: Opening, into batch: LogBatch, fields: (inout JSONMembers) -> Void) {
        withUnsafeTemporaryAllocation(byteCount: 1024, alignment: 1) { storage in
            var members = JSONMembers(line: LineBuffer(storage: storage))
            defer { members.line.release() }
            members.line.append(#"{"ts":""#)
            batch.timestamps.append(self.clock(), to: &members.line)
            opening.bytes.withUnsafeBytes { members.line.append(bytes: $0) }
            fields(&members)
            members.line.append("}\n")
            members.line.withUnsafeBytes { batch.append($0) }
        }
    }

    /// `{"ts":"…","level":"…","msg":"…"`: how every foap JSON line starts (shared with `JSONLogHandler`).
    static func appendFixedKeys<Output: ByteOutput>(
        timestamp: LogTimestamp,
        level: Logger.Level,
        message: String,
        to line: inout Output
    ) {
        Self.appendFixedKeys(timestamp: timestamp, level: level, to: &line)
        line.appendJSONQuoted(message)
    }

    /// `{"ts":"…","level":"…","msg":` — the message follows.
    static func appendFixedKeys<Output: ByteOutput>(timestamp: LogTimestamp, level: Logger.Level, to line: inout Output) {
        line.append(#"{"ts":""#)
        timestamp.append(to: &line)
        line.append(#"","level":"#)
        line.appendJSONQuoted(level.rawValue)
        line.append(#","msg":"#)
    }
}

/// The members of one record under construction: each call appends `,"key":value`.
///
/// Keys are `JSONMemberName`s the caller controls (plain snake_case, never escaped); every value is written as a
/// JSON string, as `JSONLogHandler` writes metadata values.
public struct JSONMembers {
    var line: LineBuffer

    /// Appends `,"key":"value"` with `value` escaped.
    ///
    /// A value that needs no escaping (nearly all of them: ids, names, addresses) goes in with its key in one
    /// copy each; the escaping path cost ~240 instructions per value in bench/profile, nine times per access line.
    public mutating func append(_ key: JSONMemberName, _ value: String) {
        let done: Void? = value.utf8.withContiguousStorageIfAvailable { utf8 in
            let bytes = UnsafeRawBufferPointer(utf8)
            guard JSONStringEscaping.needsNoEscaping(bytes) else {
                self.appendKey(key)
                self.line.appendJSONQuoted(bytes: bytes)
                return
            }
            self.appendKeyed(key, upTo: bytes.count + 2) { out in
                out.storeBytes(of: UInt8(ascii: "\""), as: UInt8.self)
                if let source = bytes.baseAddress {
                    (out + 1).copyMemory(from: source, byteCount: bytes.count)
                }
                (out + 1 + bytes.count).storeBytes(of: UInt8(ascii: "\""), as: UInt8.self)
                return bytes.count + 2
            }
        }
        if done == nil {
            self.appendKey(key)
            self.line.appendJSONQuoted(value)
        }
    }

    /// Appends `,"key":"123"`: numbers are strings in every foap record, so parsers see one type per key.
    public mutating func append(_ key: JSONMemberName, _ value: Int) {
        // `"`, a sign, 19 digits, `"`.
        self.appendKeyed(key, upTo: 22) { out in
            out.storeBytes(of: UInt8(ascii: "\""), as: UInt8.self)
            let end = 1 + Self.writeDecimal(value, to: out + 1)
            (out + end).storeBytes(of: UInt8(ascii: "\""), as: UInt8.self)
            return end + 1
        }
    }

    /// Appends `,"key":"<prefix><digits>"`: an id made of fixed bytes and a number (`foap-1a2b3c4d-42`) without a
    /// `String` in between. `prefix` needs no escaping; `value` is not negative.
    public mutating func append(_ key: JSONMemberName, prefix: [UInt8], number value: Int) {
        prefix.withUnsafeBytes { prefix in
            self.appendKeyed(key, upTo: prefix.count + 22) { out in
                out.storeBytes(of: UInt8(ascii: "\""), as: UInt8.self)
                if let source = prefix.baseAddress {
                    (out + 1).copyMemory(from: source, byteCount: prefix.count)
                }
                let end = 1 + prefix.count + Self.writeDecimal(value, to: out + 1 + prefix.count)
                (out + end).storeBytes(of: UInt8(ascii: "\""), as: UInt8.self)
                return end + 1
            }
        }
    }

    /// Appends `,"key":"12.345"`: thousandths as a decimal with three places (a duration in milliseconds from its
    /// microseconds, as every foap record writes durations), without a `String` in between. `value` is not negative.
    public mutating func append(_ key: JSONMemberName, thousandths value: Int) {
        self.appendKeyed(key, upTo: 26) { out in
            out.storeBytes(of: UInt8(ascii: "\""), as: UInt8.self)
            var end = 1 + Self.writeDecimal(value / 1000, to: out + 1)
            let fraction = value % 1000
            (out + end).storeBytes(of: UInt8(ascii: "."), as: UInt8.self)
            (out + end + 1).storeBytes(of: UInt8(ascii: "0") + UInt8(fraction / 100), as: UInt8.self)
            (out + end + 2).storeBytes(of: UInt8(ascii: "0") + UInt8(fraction / 10 % 10), as: UInt8.self)
            (out + end + 3).storeBytes(of: UInt8(ascii: "0") + UInt8(fraction % 10), as: UInt8.self)
            (out + end + 4).storeBytes(of: UInt8(ascii: "\""), as: UInt8.self)
            end += 5
            return end
        }
    }

    private mutating func appendKey(_ key: JSONMemberName) {
        key.prefix.withUnsafeBytes { self.line.append(bytes: $0) }
    }

    /// `key`'s prefix, then up to `maximum` bytes `write` puts after it (returning how many): one reservation.
    @inline(__always)
    private mutating func appendKeyed(
        _ key: JSONMemberName, upTo maximum: Int, _ write: (UnsafeMutableRawPointer) -> Int
    ) {
        key.prefix.withUnsafeBytes { prefix in
            self.line.append(upTo: prefix.count + maximum) { out in
                out.copyMemory(from: prefix.baseAddress!, byteCount: prefix.count)
                return prefix.count + write(out + prefix.count)
            }
        }
    }

    /// Writes the digits of `value` (and its sign) at `out`, returning how many bytes: counted first, then written
    /// from the last, straight into the line. Concrete `Int`, not generic: called from another module, a generic
    /// version ran unspecialized (~10,000 instructions per access record in bench/profile).
    @inline(__always)
    private static func writeDecimal(_ value: Int, to out: UnsafeMutableRawPointer) -> Int {
        let sign = value < 0 ? 1 : 0
        if sign == 1 {
            out.storeBytes(of: UInt8(ascii: "-"), as: UInt8.self)
        }
        var remaining = value.magnitude
        var length = 1
        var probe = remaining
        while probe >= 10 {
            probe /= 10
            length += 1
        }
        var index = sign + length
        repeat {
            index -= 1
            (out + index).storeBytes(of: UInt8(ascii: "0") + UInt8(remaining % 10), as: UInt8.self)
            remaining /= 10
        } while remaining > 0
        return sign + length
    }
}
