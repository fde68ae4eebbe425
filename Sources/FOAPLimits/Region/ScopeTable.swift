import Atomics

/// What a scope's state belongs to. Part of the slot's hash, so a key and a group of the same name never share.
public enum LimitScope: Sendable, Hashable, CustomStringConvertible {
    /// Every request of a client key, by the key's name (rotating its secret keeps its usage).
    case key(String)
    /// The requests of a key whose model matches `pattern` (the first of the key's patterns that does).
    case model(key: String, pattern: String)
    /// Every request of every key in a `limit_groups` entry.
    case group(String)

    public var description: String {
        switch self {
        case .key(let name): "key \(name)"
        case .model(let key, let pattern): "key \(key), model \(pattern)"
        case .group(let name): "group \(name)"
        }
    }

    var kind: UInt8 {
        switch self {
        case .key: 1
        case .model: 2
        case .group: 3
        }
    }

    /// The bytes that identify the scope (with the kind, hashed into the slot); a 0 byte separates key and pattern.
    var identity: [UInt8] {
        switch self {
        case .key(let name), .group(let name): Array(name.utf8)
        case .model(let key, let pattern): Array(key.utf8) + [0] + Array(pattern.utf8)
        }
    }

    /// Never 0, the mark of an empty slot.
    var hash: UInt64 {
        Self.hash(kind: self.kind, identity: self.identity)
    }

    static func hash(kind: UInt8, identity: [UInt8]) -> UInt64 {
        var hash = FNV1a()
        hash.add(kind)
        hash.add(identity)
        return hash.value | 1 << 63
    }
}

/// Finding a scope's slot: an open-addressing table of 64-bit hashes with linear probing. A slot is claimed with
/// one CAS and never freed, so a probe chain never breaks and two processes inserting the same scope meet in the
/// same slot.
extension LimitsRegion {
    /// The slot of `scope`, claiming a free one if it has none yet.
    ///
    /// - Returns: nil when the table is full.
    func slot(for scope: LimitScope) -> Int? {
        self.slot(kind: scope.kind, identity: scope.identity)
    }

    /// The slot of the entry `kind` + `identity` (a scope's, or a fleet slot's), claiming a free one if needed.
    func slot(kind: UInt8, identity: [UInt8]) -> Int? {
        let hash = LimitScope.hash(kind: kind, identity: identity)
        let start = Int(hash % UInt64(self.capacity))
        for step in 0..<self.capacity {
            let slot = (start + step) % self.capacity
            let word = self.slotWord(slot, RegionLayout.Slot.hash)
            let (exchanged, found) = word.compareExchange(expected: 0, desired: hash, ordering: .acquiringAndReleasing)
            if exchanged {
                self.writeName(kind: kind, identity: identity, into: slot)
                return slot
            }
            if found == hash {
                return slot
            }
        }
        return nil
    }

    /// The slot of `scope` if it was ever inserted; never claims one.
    func existingSlot(for scope: LimitScope) -> Int? {
        let hash = scope.hash
        let start = Int(hash % UInt64(self.capacity))
        for step in 0..<self.capacity {
            let slot = (start + step) % self.capacity
            switch self.slotWord(slot, RegionLayout.Slot.hash).load(ordering: .acquiring) {
            case hash: return slot
            case 0: return nil
            default: continue
            }
        }
        return nil
    }

    /// Every claimed slot with its kind and (possibly cut) name, for listings of what the region holds.
    public func occupiedScopes() -> [(slot: Int, kind: UInt8, name: String)] {
        (0..<self.capacity).compactMap { slot in
            guard self.slotWord(slot, RegionLayout.Slot.hash).load(ordering: .acquiring) != 0 else {
                return nil
            }
            let meta = self.slotWord(slot, RegionLayout.Slot.nameMeta).load(ordering: .acquiring)
            let length = Int(meta >> 8 & 0xFF)
            var bytes: [UInt8] = []
            for index in 0..<length {
                let word = self.slotWord(slot, RegionLayout.Slot.name + index / 8).load(ordering: .relaxed)
                bytes.append(UInt8(truncatingIfNeeded: word >> UInt64(index % 8 * 8)))
            }
            return (slot, UInt8(truncatingIfNeeded: meta), String(decoding: bytes, as: UTF8.self))
        }
    }

    /// Stores the first ``RegionLayout/nameCapacity`` identity bytes, then the meta word that publishes them.
    private func writeName(kind: UInt8, identity: [UInt8], into slot: Int) {
        let bytes = identity.prefix(RegionLayout.nameCapacity)
        for wordIndex in 0..<RegionLayout.Slot.nameWords {
            var word: UInt64 = 0
            for (offset, byte) in bytes.dropFirst(wordIndex * 8).prefix(8).enumerated() {
                word |= UInt64(byte) << UInt64(offset * 8)
            }
            self.slotWord(slot, RegionLayout.Slot.name + wordIndex).store(word, ordering: .relaxed)
        }
        let meta = UInt64(kind) | UInt64(bytes.count) << 8
        self.slotWord(slot, RegionLayout.Slot.nameMeta).store(meta, ordering: .releasing)
    }
}
