import CSystemd
import Glibc

/// Delivers one journal record, given as its fields.
///
/// The seam between building a record (pure, tested field by field) and handing it to journald (a syscall).
/// A field's value may hold any bytes, newlines included.
public protocol JournalSender: Sendable {
    /// Sends one record. Field names must be valid journal field names (`[A-Z0-9_]`, not starting with a digit).
    func send(fields: [(name: String, value: [UInt8])])
}

/// Sends records to journald through libsystemd's `sd_journal_sendv`.
///
/// Each field becomes one `NAME=value` iovec. `sd_journal_sendv` itself switches a field whose value contains a
/// newline to the native protocol's binary form (`NAME\n`, little-endian 64-bit length, raw bytes), and moves a
/// record too large for one datagram into a sealed memfd, so values are never cut or corrupted here.
/// Like `sd_journal_sendv`, it silently drops records while journald's socket does not exist.
public struct SystemdJournalSender: JournalSender {
    public init() {}

    public func send(fields: [(name: String, value: [UInt8])]) {
        guard !fields.isEmpty else {
            return
        }
        // All fields share one buffer so a record costs one allocation, whatever its field count.
        var storage: [UInt8] = []
        var ranges: [Range<Int>] = []
        ranges.reserveCapacity(fields.count)
        for field in fields {
            assert(Self.isValidFieldName(field.name), "invalid journal field name \(field.name)")
            let start = storage.count
            storage.append(contentsOf: field.name.utf8)
            storage.append(UInt8(ascii: "="))
            storage.append(contentsOf: field.value)
            ranges.append(start..<storage.count)
        }
        storage.withUnsafeMutableBytes { bytes in
            let vectors = ranges.map { range in
                iovec(iov_base: bytes.baseAddress! + range.lowerBound, iov_len: range.count)
            }
            // The result is ignored: a logger has nowhere to report that logging failed.
            _ = vectors.withUnsafeBufferPointer { vectors in
                sd_journal_sendv(vectors.baseAddress, CInt(vectors.count))
            }
        }
    }

    /// journald's rule (`journal_field_valid`): 1…64 bytes of `[A-Z0-9_]`, not starting with a digit.
    static func isValidFieldName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard (1...64).contains(bytes.count), !(UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[0]) else {
            return false
        }
        return bytes.allSatisfy { byte in
            (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: "_")
        }
    }
}
