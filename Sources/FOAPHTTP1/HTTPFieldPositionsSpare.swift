/// The field positions of the last head a parser returned, kept so that the next head's are written into the same
/// storage.
///
/// A head's field positions are an array its `HTTPFieldBlock` keeps; a new one per head (two per proxied request)
/// cost ~500 instructions per request in bench/profile, with its free. A connection's heads come one after another,
/// and by the time the next one arrives the last one is nearly always gone: its storage is then refilled in place.
/// While the last head is still held (a pipelined request, a response head kept for a retry), the next gets new
/// storage, as before.
struct HTTPFieldPositionsSpare {
    private(set) var fields: [HTTPFieldBlock.Field] = []

    /// Room kept for: beyond it, a head of many fields does not pin its storage to the connection.
    private static let keptCapacity = 64

    /// An empty array for the next head's fields.
    mutating func take() -> [HTTPFieldBlock.Field] {
        var fields: [HTTPFieldBlock.Field] = []
        swap(&fields, &self.fields)
        if fields.capacity == 0 || fields.capacity > Self.keptCapacity {
            fields = []
            fields.reserveCapacity(16)
        } else {
            fields.removeAll(keepingCapacity: true)  // in place when nothing else holds it, else new storage
        }
        return fields
    }

    /// Keeps `fields` (shared with the head that was just parsed) for the next head.
    mutating func keep(_ fields: [HTTPFieldBlock.Field]) {
        self.fields = fields
    }
}
