/// A small set of header names, matched case-insensitively without allocating or hashing.
///
/// Every forwarded header is checked against the hop-by-hop lists in both directions. A `Set<String>` lookup
/// lower-cases (allocates) and hashes each name; here a bitmask of the lengths in the list rejects most names at
/// once (`content-type`, `x-request-id`, … have lengths no listed name has), and the rest are compared byte by byte.
struct HeaderNameList: Sendable {
    private let names: [[UInt8]]
    private let lengths: UInt64

    init(_ names: [String]) {
        self.names = names.map { Array($0.lowercased().utf8) }
        self.lengths = self.names.reduce(0) { mask, name in name.count < 64 ? mask | (1 << UInt64(name.count)) : mask }
    }

    func contains(_ name: String) -> Bool {
        var name = name
        return name.withUTF8 { bytes in
            guard bytes.count < 64, self.lengths & (1 << UInt64(bytes.count)) != 0 else { return false }
            return self.names.contains { candidate in
                guard candidate.count == bytes.count else { return false }
                for index in 0..<bytes.count where asciiLowercased(bytes[index]) != candidate[index] {
                    return false
                }
                return true
            }
        }
    }
}

private func asciiLowercased(_ byte: UInt8) -> UInt8 {
    byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte | 0x20 : byte
}
