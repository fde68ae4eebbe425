extension String {
    /// The index of the first UTF-8 byte that satisfies `predicate`, found over the string's contiguous bytes:
    /// `utf8.firstIndex(where:)` walks `String.UTF8View` indices at ~35 instructions a byte (bench/profile),
    /// and every request's URI is scanned this way twice.
    func firstUTF8Index(where predicate: (UInt8) -> Bool) -> String.Index? {
        let offset = self.utf8.withContiguousStorageIfAvailable { bytes in bytes.firstIndex(where: predicate) }
        guard let offset else {
            return self.utf8.firstIndex(where: predicate)  // not contiguous (a bridged string): the slow way
        }
        return offset.map { self.utf8.index(self.utf8.startIndex, offsetBy: $0) }
    }
}
