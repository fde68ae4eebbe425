import NIOCore
import XCTest

@testable import FOAPProxy

/// A loop's recycled buffers: reused without an allocation once nothing else holds them, never written while
/// another holder (a write NIO has not done yet) still reads them, and bounded in number and size.
final class BufferRecyclerTests: XCTestCase {
    private let allocator = ByteBufferAllocator()

    private func address(_ buffer: ByteBuffer) -> UnsafeRawPointer? {
        buffer.withVeryUnsafeBytes { UnsafeRawPointer($0.baseAddress) }
    }

    func testABufferNobodyElseHoldsIsReusedEmpty() {
        let recycler = BufferRecycler()
        var first = recycler.take(capacity: 100, allocator: self.allocator)
        first.writeString("answer one")
        let storage = self.address(first)
        recycler.recycle(first)
        first = ByteBuffer()  // the channel wrote it and let go
        let second = recycler.take(capacity: 100, allocator: self.allocator)
        XCTAssertEqual(second.readableBytes, 0)
        XCTAssertEqual(self.address(second), storage, "the same storage, no allocation")
    }

    func testTakeKeptGivesOnlyWhatWasKept() {
        let recycler = BufferRecycler()
        XCTAssertNil(recycler.takeKept(capacity: 10), "nothing kept yet: the caller allocates")
        var kept = self.allocator.buffer(capacity: 64)
        kept.writeString("old bytes")
        recycler.recycle(kept)
        kept = ByteBuffer()
        let taken = recycler.takeKept(capacity: 200)
        XCTAssertEqual(taken?.readableBytes, 0)
        XCTAssertGreaterThanOrEqual(taken?.capacity ?? 0, 200)
        XCTAssertNil(recycler.takeKept(capacity: 10), "the one kept buffer was taken")
    }

    func testABufferStillHeldElsewhereIsNotWrittenOver() {
        let recycler = BufferRecycler()
        var written = recycler.take(capacity: 100, allocator: self.allocator)
        written.writeString("bytes waiting to be written")
        recycler.recycle(written)  // `written` stands for NIO's pending write, which still holds them
        var next = recycler.take(capacity: 100, allocator: self.allocator)
        next.writeString("the next answer")
        XCTAssertEqual(String(buffer: written), "bytes waiting to be written")
        XCTAssertEqual(String(buffer: next), "the next answer")
        XCTAssertNotEqual(self.address(next), self.address(written))
    }

    func testItKeepsFewBuffersAndNoLargeOne() {
        let recycler = BufferRecycler()
        var addresses: [UnsafeRawPointer?] = []
        var refused: [ByteBuffer] = []  // held here, so that no later allocation can get their storage
        for index in 0..<(BufferRecycler.limit + 4) {
            let buffer = self.allocator.buffer(capacity: 64)
            addresses.append(self.address(buffer))
            recycler.recycle(buffer)
            if index >= BufferRecycler.limit { refused.append(buffer) }
        }
        let large = self.allocator.buffer(capacity: BufferRecycler.maximumCapacity + 1)
        recycler.recycle(large)
        var taken: [ByteBuffer] = []
        for _ in 0..<(BufferRecycler.limit + 1) {
            taken.append(recycler.take(capacity: 1, allocator: self.allocator))
        }
        let kept = Set(taken.prefix(BufferRecycler.limit).map { self.address($0) })
        XCTAssertEqual(kept, Set(addresses.prefix(BufferRecycler.limit)), "the first ones were kept, and reused")
        XCTAssertFalse(Set(addresses).contains(self.address(taken[BufferRecycler.limit])), "then a fresh one")
        XCTAssertNotEqual(self.address(taken[BufferRecycler.limit]), self.address(large), "not the large one")
        XCTAssertEqual(refused.count, 4)
    }

    func testATakenBufferHasTheRoomAskedFor() {
        let recycler = BufferRecycler()
        recycler.recycle(self.allocator.buffer(capacity: 16))
        XCTAssertGreaterThanOrEqual(recycler.take(capacity: 4096, allocator: self.allocator).capacity, 4096)
    }
}
