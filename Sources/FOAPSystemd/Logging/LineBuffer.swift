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

    /// Appends UTF-8 `bytes` as a quoted JSON string.
    mutating func appendJSONQuoted(bytes: UnsafeRawBufferPointer) {
        self.append(UInt8(ascii: "\""))
        JSONStringEscaping.escape(bytes) { self.append(bytes: $0) }
        self.append(UInt8(ascii: "\""))
    }

    /// Appends a message as a quoted JSON string; one that needs no escaping (every foap message) without a
    /// `String` in between.
    mutating func appendJSONQuoted(_ text: StaticString) {
        let plain = text.withUTF8Buffer { bytes in
            !bytes.contains { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }
        }
        guard plain else {
            self.appendJSONQuoted(text.description)
            return
        }
        self.append(UInt8(ascii: "\""))
        self.append(text)
        self.append(UInt8(ascii: "\""))
    }
}

extension Array: ByteOutput where Element == UInt8 {
    mutating func append(bytes: UnsafeRawBufferPointer) {
        self.append(contentsOf: bytes)
    }
}

/// One log line under construction: bytes copied through a cursor into storage the writer lends it (a stack
/// allocation), moving to the heap only when a line outgrows that.
///
/// The access log builds a ~400-byte line per request from ~50 short pieces. `[UInt8].append(contentsOf:)` costs
/// ~150 instructions per piece however short it is (uniqueness and capacity checks around a generic copy), and an
/// array-backed line still paid its allocation, zero fill and uniqueness check per piece (~4,000 instructions per
/// record in bench/profile); here a piece is a capacity check and a `memcpy`.
struct LineBuffer: ByteOutput {
    private var storage: UnsafeMutableRawBufferPointer
    /// The storage was allocated here (the line outgrew what it was lent) and is freed by `release`.
    private var ownsStorage = false
    private var count = 0

    /// - Parameter storage: where the line starts; it must outlive the line (or its `release`).
    init(storage: UnsafeMutableRawBufferPointer) {
        self.storage = storage
    }

    // The appends are inlined and growing is not: a call per byte cost ~22 instructions, ~50 times per access line.
    @inline(__always)
    mutating func append(_ byte: UInt8) {
        if self.count == self.storage.count {
            self.grow(by: 1)
        }
        self.storage.storeBytes(of: byte, toByteOffset: self.count, as: UInt8.self)
        self.count += 1
    }

    @inline(__always)
    mutating func append(bytes: UnsafeRawBufferPointer) {
        guard let source = bytes.baseAddress, bytes.count > 0 else { return }
        if self.count + bytes.count > self.storage.count {
            self.grow(by: bytes.count)
        }
        (self.storage.baseAddress! + self.count).copyMemory(from: source, byteCount: bytes.count)
        self.count += bytes.count
    }

    /// Lets `write` put up to `maximum` bytes straight into the line; it returns how many it wrote.
    @inline(__always)
    mutating func append(upTo maximum: Int, _ write: (UnsafeMutableRawPointer) -> Int) {
        if self.count + maximum > self.storage.count {
            self.grow(by: maximum)
        }
        self.count += write(self.storage.baseAddress! + self.count)
    }

    /// The line written so far.
    func withUnsafeBytes<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
        try body(UnsafeRawBufferPointer(rebasing: self.storage[..<self.count]))
    }

    /// Frees the heap storage a long line moved to; the line is empty afterwards.
    mutating func release() {
        if self.ownsStorage {
            self.storage.deallocate()
            self.storage = UnsafeMutableRawBufferPointer(start: nil, count: 0)
            self.ownsStorage = false
        }
        self.count = 0
    }

    /// Doubles the storage (at least): a record with long values costs one copy, not one per piece.
    @inline(never)
    private mutating func grow(by needed: Int) {
        let capacity = max(self.storage.count * 2, self.count + needed)
        let larger = UnsafeMutableRawBufferPointer.allocate(byteCount: capacity, alignment: 1)
        if self.count > 0 {
            larger.baseAddress!.copyMemory(from: self.storage.baseAddress!, byteCount: self.count)
        }
        if self.ownsStorage {
            self.storage.deallocate()
        }
        self.storage = larger
        self.ownsStorage = true
    }
}
