import FOAPWorkerChannel

#if canImport(Glibc)
import Glibc
#endif

/// The master's end of one worker's channel (see `ChannelPacket`): the non-blocking socket, and the packets waiting
/// for room in it.
struct ChannelToWorker {
    /// Non-blocking, close-on-exec; the worker holds the other end of the socketpair.
    let fd: Int32
    var outbox = ChannelOutbox()

    /// What one read of the channel produced.
    struct ReadResult: Equatable {
        var messages: [WorkerMessage] = []
        /// Metrics report chunks (Prometheus text).
        var metricsReports: [String] = []
        /// The worker asked for the summed metrics this many times.
        var metricsRequests = 0
        /// EOF or a hard error: the worker is gone (or closed its end); its exit arrives through SIGCHLD.
        var closed = false
    }

    /// Reads every packet queued on the non-blocking `fd`. Packets this build does not know, and packets of the
    /// master's own direction, are skipped (a newer worker may say more).
    static func readAvailable(fd: Int32) -> ReadResult {
        var result = ReadResult()
        var buffer = [UInt8](repeating: 0, count: ChannelPacket.maximumSize)
        while true {
            switch ChannelSocket.receive(fd: fd, into: &buffer, blocking: false) {
            case .packet(let bytes):
                switch ChannelPacket(decoding: bytes) {
                case .worker(let message): result.messages.append(message)
                case .metricsReport(let text): result.metricsReports.append(text)
                case .metricsRequest: result.metricsRequests += 1
                case .master, .expositionPart, .expositionEnd, nil: break
                }
            case .empty:
                return result
            case .closed:
                result.closed = true
                return result
            }
        }
    }

    /// The packets that carry the summed metrics to a worker that asked: the text in pieces, then the end marker.
    static func exposition(_ text: String) -> [ChannelPacket] {
        MetricsPackets.split(text, repeatingHeaders: false).map(ChannelPacket.expositionPart) + [.expositionEnd]
    }
}

/// The packets the master has for one worker, in order, sent as the worker's socket takes them.
///
/// Sending never blocks the master's loop: what the socket does not take now waits here, and the loop polls the socket
/// for POLLOUT while anything waits. A metrics answer may be larger than the socket's ~200 KB; the worker's receiving
/// thread reads it at once, so it drains in a few wakeups. An answer not wholly sent by its deadline is dropped (that
/// scrape gets a 503), so a worker that stopped reading cannot make the queue grow without bound. Lifecycle words
/// (`drain`, `accept`) have no deadline: they wait behind an answer, in order, and are never dropped for a full queue.
struct ChannelOutbox: Equatable {
    /// What a queued item is, for the log when it cannot be sent.
    enum Item: Equatable {
        case message(MasterMessage)
        /// A metrics answer of `bytes` bytes of text.
        case exposition(bytes: Int)
    }

    struct Entry: Equatable {
        let item: Item
        /// The packets not sent yet.
        var packets: ArraySlice<[UInt8]>
        let deadline: ContinuousClock.Instant?
    }

    /// What a `flush` did besides sending.
    struct FlushResult: Equatable {
        /// Items dropped: their deadline passed, or the socket broke (then everything queued is dropped).
        var dropped: [Item] = []
        /// The socket broke (errno): the worker is gone; its exit arrives through SIGCHLD.
        var brokenErrno: Int32?
    }

    private(set) var entries: [Entry] = []

    var isEmpty: Bool { self.entries.isEmpty }

    /// The earliest deadline of what waits: the loop wakes up then to drop it.
    var deadline: ContinuousClock.Instant? {
        self.entries.compactMap(\.deadline).min()
    }

    mutating func enqueue(_ item: Item, _ packets: [ChannelPacket], deadline: ContinuousClock.Instant? = nil) {
        self.entries.append(Entry(item: item, packets: packets.map(\.encoded)[...], deadline: deadline))
    }

    /// Sends queued packets in order until the socket is full or nothing is left; drops entries whose deadline passed.
    mutating func flush(
        now: ContinuousClock.Instant,
        send: ([UInt8]) -> ChannelSocket.SendResult
    ) -> FlushResult {
        var result = FlushResult()
        while var entry = self.entries.first {
            if let deadline = entry.deadline, deadline <= now {
                result.dropped.append(entry.item)
                self.entries.removeFirst()
                continue
            }
            while let packet = entry.packets.first {
                switch send(packet) {
                case .sent:
                    entry.packets.removeFirst()
                case .full:
                    self.entries[0] = entry
                    return result
                case .broken(let errno):
                    result.dropped += self.entries.map(\.item)
                    result.brokenErrno = errno
                    self.entries = []
                    return result
                }
            }
            self.entries.removeFirst()
        }
        return result
    }
}
