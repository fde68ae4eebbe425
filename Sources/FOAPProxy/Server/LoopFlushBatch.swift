import NIOCore

/// A channel writer whose flush may wait for the end of its event loop's batch of I/O events.
protocol BatchedFlushing: AnyObject {
    /// Flushes what was written since `LoopFlushBatch.flushSoon` was called for it.
    func flushBatched()
}

/// Flushes held back while the event loop handles the I/O events of one wake-up, then done one after the other.
///
/// A write to a loopback socket wakes the process that reads the other end (the upstream server, the client). When
/// that process sleeps, waking it costs the writer an inter-processor interrupt, far dearer inside a VM: in
/// bench/floor-run's setup, `perf` put ~3.5 µs per request under `sock_def_readable`'s wake-up in foap's worker
/// against ~1.1 µs in the NIO floor relay, and foap's system time per request was 14.0 µs against nginx's 12.4.
/// One `epoll_wait` hands the worker dozens of ready sockets under load; flushing their writes together at the end
/// (NIO runs tasks queued by the I/O handlers after all of them) wakes each reader once per batch, not once per
/// request, and the later writes find it awake. Measured: system time 14.0 → 12.5 µs per request
/// (docs/performance.md, stage 8). A lone request waits only for its own handler to return: no delay under light load.
///
/// Only the writes of a keep-alive exchange's answer and of a pooled upstream request go through it; a write that
/// is followed by a close, or that someone waits for, is flushed at once.
///
/// Loop-bound: one per event loop, used only on it (`@unchecked Sendable`: the engine holds one per loop, as it
/// holds `BufferRecycler`s).
final class LoopFlushBatch: @unchecked Sendable {
    private let eventLoop: EventLoop
    /// The writers waiting, in the order they asked; behind a pointer so that appending pays no dynamic
    /// exclusivity check (see `LoopBoundCell`).
    private let waiting = LoopBoundCell<[any BatchedFlushing]>([])
    /// The spare array `flushAll` swaps in, so that neither array is allocated again once both have grown.
    private let spare = LoopBoundCell<[any BatchedFlushing]>([])
    private var scheduled = false

    init(eventLoop: EventLoop) {
        self.eventLoop = eventLoop
        self.waiting.value.reserveCapacity(64)
        self.spare.value.reserveCapacity(64)
    }

    deinit {
        self.waiting.free()
        self.spare.free()
    }

    /// Flushes `writer` once the loop has handled the current batch of I/O events (or, asked from a task, right
    /// after the tasks queued before this one).
    func flushSoon(_ writer: any BatchedFlushing) {
        self.waiting.value.append(writer)
        guard !self.scheduled else { return }
        self.scheduled = true
        self.eventLoop.assumeIsolated().execute { self.flushAll() }
    }

    private func flushAll() {
        self.scheduled = false
        // Swapped out first: a flush can make a handler write and ask again (that goes into the next batch).
        swap(&self.waiting.value, &self.spare.value)
        for writer in self.spare.value {
            writer.flushBatched()
        }
        self.spare.value.removeAll(keepingCapacity: true)
    }
}
