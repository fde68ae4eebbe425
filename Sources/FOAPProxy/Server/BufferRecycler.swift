import NIOCore

/// The buffers one event loop's connections encode into, handed back once written and taken again for the next
/// answer: a request's response head and small body, an upstream request.
///
/// Allocating a `ByteBuffer` and freeing it once the socket took its bytes cost ~700 instructions per buffer in
/// bench/profile, three times per proxied request. A buffer is put back as soon as it is handed to the channel; NIO
/// holds its own reference until the bytes are written, and by the time the buffer is taken again (the next
/// request, a later event) it has let go, so clearing it allocates nothing. If NIO still holds it, `clear` gives the
/// taker fresh storage (value semantics): a buffer is never written while its bytes wait to go out.
///
/// Loop-bound: one per event loop, used only on it. Memory stays bounded whatever the number of connections: at
/// most `limit` buffers of at most `maximumCapacity` bytes each.
///
/// `@unchecked Sendable`: the engine (Sendable) holds one per loop and hands it only to code on that loop.
final class BufferRecycler: @unchecked Sendable {
    static let limit = 16
    static let maximumCapacity = 16 * 1024

    /// The kept buffers (the first `count` are initialized) and their number, behind pointers: an array in a stored
    /// property paid a dynamic exclusivity check per access, ~190 instructions per `take` in bench/profile.
    private let slots: UnsafeMutablePointer<ByteBuffer>
    private let count: UnsafeMutablePointer<Int>

    init() {
        self.slots = .allocate(capacity: Self.limit)
        self.count = .allocate(capacity: 1)
        self.count.initialize(to: 0)
    }

    deinit {
        self.slots.deinitialize(count: self.count.pointee)
        self.slots.deallocate()
        self.count.deallocate()
    }

    /// An empty buffer with room for at least `capacity` bytes.
    func take(capacity: Int, allocator: ByteBufferAllocator) -> ByteBuffer {
        self.takeKept(capacity: capacity) ?? allocator.buffer(capacity: capacity)
    }

    /// A kept buffer, emptied, with room for at least `capacity` bytes; nil when none is kept. For a caller whose
    /// allocator costs something to reach (through the channel: ~200 instructions per buffer in bench/profile),
    /// needed only when this returns nil.
    func takeKept(capacity: Int) -> ByteBuffer? {
        let count = self.count.pointee
        guard count > 0 else { return nil }
        self.count.pointee = count - 1
        var buffer = (self.slots + count - 1).move()
        buffer.clear(minimumCapacity: capacity)
        return buffer
    }

    /// Keeps `buffer` for a later `take` (its bytes may still be waiting to be written: see the type's comment).
    func recycle(_ buffer: ByteBuffer) {
        let count = self.count.pointee
        guard count < Self.limit, buffer.capacity <= Self.maximumCapacity else { return }
        (self.slots + count).initialize(to: buffer)
        self.count.pointee = count + 1
    }
}
