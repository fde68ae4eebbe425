import FOAPJSON

/// Where a log line's bytes go: a `[UInt8]` (the log handlers) or a `LineBuffer` (the access log's records).
/// Internal and generic only within this module, so every use is specialized.
protocol ByteOutput {
    mutating func append(_ byte: UInt8)
    mutating func append(bytes: UnsafeRawBufferPointer)
}

extension ByteOutput {
    mutating func append(_ text: StaticString) {
        text.withUTF8Buffer { self.append(bytes: UnsafeRawBufferPointer($0)) }
    }

    /// Appends `string` as a quoted JSON string (RFC 8259 escaping, as `appendJSONString` does for arrays).
    mutating func appendJSONQuoted(_ string: String) {
        self.append(UInt8(ascii: "\""))
        JSONStringEscaping.escape(string) { self.append(bytes: $0) }
        self.append(UInt8(ascii: "\""))
    }
}

extension Array: ByteOutput where Element == UInt8 {
    mutating func append(bytes: UnsafeRawBufferPointer) {
        self.append(contentsOf: bytes)
    }
}

/// One log line under construction: bytes copied through a cursor into storage reserved up front.
///
/// The access log builds a ~400-byte line per request from ~50 short pieces. `[UInt8].append(contentsOf:)` costs
/// ~150 instructions per piece however short it is (uniqueness and capacity checks around a generic copy), ~6,000
/// per record in bench/profile; here a piece is a capacity check and a `memcpy`.
struct LineBuffer: ByteOutput {
    /// Zero-filled ahead of the cursor; only `storage[..<count]` is the line.
    private var storage: [UInt8]
    private var count = 0

    init(capacity: Int) {
        self.storage = Array(repeating: 0, count: capacity)
    }

    mutating func append(_ byte: UInt8) {
        if self.count == self.storage.count {
            self.grow(by: 1)
        }
        self.storage[self.count] = byte
        self.count += 1
    }

    mutating func append(bytes: UnsafeRawBufferPointer) {
        guard let source = bytes.baseAddress else { return }
        if self.count + bytes.count > self.storage.count {
            self.grow(by: bytes.count)
        }
        let offset = self.count
        self.storage.withUnsafeMutableBytes { line in
            (line.baseAddress! + offset).copyMemory(from: source, byteCount: bytes.count)
        }
        self.count += bytes.count
    }

    /// The line written so far.
    func withUnsafeBytes<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
        try self.storage.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[..<self.count])) }
    }

    /// Doubles the storage (at least): a record with long values costs one copy, not one per piece.
    private mutating func grow(by needed: Int) {
        self.storage.append(contentsOf: repeatElement(0, count: max(self.storage.count, needed)))
    }
}
