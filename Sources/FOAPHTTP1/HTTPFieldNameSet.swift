/// Field names to find in a head, compared byte-wise and case-insensitively: no `String`, no lowercasing or
/// hashing per field.
///
/// A proxy checks every field of every head it forwards against the names that must not cross; through an array of
/// arrays per length and two closures per field that cost ~300 instructions per field in bench/profile. The names
/// sit in one flat run of bytes, and a field whose length no name has is answered by one bit.
public struct HTTPFieldNameSet: Sendable {
    /// The names, lower-case, one after another, shortest first.
    private let bytes: [UInt8]
    /// For each byte of `bytes`: 0x20 for a letter (a field's byte is lowered before the compare), 0 for any other.
    private let caseBits: [UInt8]
    /// Where each name starts in `bytes` and its length, in the same order.
    private let names: [(start: Int, count: Int)]
    /// Bit n: a name has n bytes (names longer than 63 bytes are not supported).
    private let lengths: UInt64

    /// - Parameter names: field names (any case; shorter than 64 bytes).
    public init(_ names: some Sequence<String>) {
        let sorted = Set(names.map { $0.lowercased() }).sorted { ($0.utf8.count, $0) < ($1.utf8.count, $1) }
        var bytes: [UInt8] = []
        var entries: [(start: Int, count: Int)] = []
        var lengths: UInt64 = 0
        for name in sorted {
            precondition(name.utf8.count < 64, "field name too long for the set: \(name)")
            entries.append((bytes.count, name.utf8.count))
            bytes += name.utf8
            lengths |= 1 << UInt64(name.utf8.count)
        }
        self.bytes = bytes
        self.caseBits = bytes.map { $0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "z") ? 0x20 : 0 }
        self.names = entries
        self.lengths = lengths
    }

    /// Whether `name` (any case) is in the set.
    public func contains(_ name: UnsafeRawBufferPointer) -> Bool {
        guard name.count < 64, self.lengths >> UInt64(name.count) & 1 == 1 else { return false }
        return self.bytes.withUnsafeBufferPointer { bytes in
            self.caseBits.withUnsafeBufferPointer { caseBits in
                for entry in self.names {
                    // Shortest first: past the field's length there is nothing more to compare.
                    guard entry.count <= name.count else { return false }
                    guard entry.count == name.count else { continue }
                    var index = 0
                    while index < entry.count,
                        name[index] | caseBits[entry.start + index] == bytes[entry.start + index]
                    {
                        index += 1
                    }
                    if index == entry.count { return true }
                }
                return false
            }
        }
    }

    /// Whether `name` (any case) is in the set.
    public func contains(_ name: String) -> Bool {
        let count = name.utf8.count
        guard count < 64, self.lengths >> UInt64(count) & 1 == 1 else { return false }
        var name = name
        return name.withUTF8 { self.contains(UnsafeRawBufferPointer($0)) }
    }
}

extension HTTPFieldBlock {
    /// Drops every field whose name is in `names`, in one pass.
    ///
    /// - Returns: whether a dropped `Connection` field lists more than its `keep-alive` and `close` options (the
    ///   names of more fields to drop, which the caller reads from the original block).
    public mutating func remove(namesIn names: HTTPFieldNameSet) -> Bool {
        var connectionListsFields = false
        self.removeAll { name, value in
            guard names.contains(name) else { return false }
            if FramingFacts.equalsLowercase(name, "connection"), !FramingFacts.equalsLowercase(value, "keep-alive"),
                !FramingFacts.equalsLowercase(value, "close")
            {
                connectionListsFields = true
            }
            return true
        }
        return connectionListsFields
    }
}
