import FOAPWorkerChannel
import Foundation
import Synchronization

/// The worker's end of its worker channel (see `ChannelPacket`).
///
/// Sending never blocks (MSG_DONTWAIT; a full queue drops the message, which for heartbeats is harmless since the next
/// one follows in 0.5 s), so it is safe from an event loop. Receiving runs on its own thread, blocked in `recv`,
/// because the master → worker words (`accept`, `drain`) are rare and must not need the event loop's cooperation.
public final class ChannelToMaster: Sendable {
    private let fd: Int32
    private let receiving = Atomic<Bool>(false)
    /// `GET /metrics` requests waiting for the master's sum (answered by the receiving thread).
    private let expositionWaiters = ExpositionWaiters()
    private let nextReportPacket = Atomic<Int>(0)

    /// - Parameter fd: the inherited channel socket (`WorkerEnvironment.channelFD`). The channel does not close it:
    ///   the worker keeps it until exit, and its closing is what tells the master the worker is gone.
    public init(fd: Int32) {
        self.fd = fd
    }

    /// Sends one message; EAGAIN (queue full) and EPIPE (master gone, noticed by the receiver) are ignored.
    public func send(_ message: WorkerMessage) {
        ChannelSocket.send(.worker(message), fd: self.fd)
    }

    /// Sends this worker's cumulative metrics (Prometheus text) in packets the master can read one by one.
    /// A packet that does not fit the queue is dropped; the next report (0.5 s later) carries the same totals.
    ///
    /// At most `packetsPerReport` packets go out per call, taking turns over a long report: the socket holds only
    /// ~200 KB in flight, and a burst beyond that would drop the same tail every time. Values are cumulative, so
    /// a report that arrives in turns is still exact, only a few heartbeats later.
    /// - Parameter everything: every packet now (the last report before the worker exits).
    public func sendMetricsReport(_ text: String, everything: Bool = false) {
        let packets = MetricsPackets.split(text)
        guard !packets.isEmpty else { return }
        let count = everything ? packets.count : min(packets.count, Self.packetsPerReport)
        let start = packets.count > count ? self.nextReportPacket.add(count, ordering: .relaxed).oldValue : 0
        for offset in 0..<count {
            let packet = packets[(start + offset) % packets.count]
            ChannelSocket.send(.metricsReport(packet), fd: self.fd)
        }
    }

    public static let packetsPerReport = 3

    /// Asks the master for every worker's metrics summed; `reply` gets the text, or nil if the master cannot be
    /// asked. The caller bounds the wait (a reply may never come if the master is gone).
    public func requestExposition(_ reply: @escaping @Sendable (String?) -> Void) {
        self.expositionWaiters.add(reply)
        if !ChannelSocket.send(.metricsRequest, fd: self.fd) {
            self.expositionWaiters.answerAll(nil)
        }
    }

    /// Starts a dedicated thread that blocks in `recv`: calls `onAccept` when `accept` arrives, `onDrain` when
    /// `drain` arrives and `onMasterGone` on EOF or error (a worker whose master vanished should drain and exit).
    /// Each is called at most once.
    /// - Important: call it once; the thread ends after `onMasterGone`.
    public func startReceiving(
        onAccept: @escaping @Sendable () -> Void = {},
        onDrain: @escaping @Sendable () -> Void,
        onMasterGone: @escaping @Sendable () -> Void
    ) {
        let alreadyStarted = self.receiving.exchange(true, ordering: .relaxed)
        precondition(!alreadyStarted, "ChannelToMaster.startReceiving called twice")
        let fd = self.fd
        let waiters = self.expositionWaiters
        let thread = Thread {
            var drained = false
            var accepted = false
            var exposition = ""
            var buffer = [UInt8](repeating: 0, count: ChannelPacket.maximumSize)
            while true {
                guard case .packet(let bytes) = ChannelSocket.receive(fd: fd, into: &buffer, blocking: true) else {
                    onMasterGone()
                    return
                }
                switch ChannelPacket(decoding: bytes) {
                case .expositionPart(let text):
                    exposition += text
                case .expositionEnd:
                    let text = exposition
                    exposition = ""
                    waiters.answerAll(text)
                case .master(.drain) where !drained:
                    drained = true
                    onDrain()
                case .master(.accept) where !accepted:
                    accepted = true
                    onAccept()
                default:
                    break  // a repeat, or a packet this worker does not know
                }
            }
        }
        thread.name = "foap-channel"
        thread.start()
    }
}

/// The `GET /metrics` requests of a worker waiting for the master's answer.
private final class ExpositionWaiters: Sendable {
    private let waiting = Mutex<[@Sendable (String?) -> Void]>([])

    func add(_ reply: @escaping @Sendable (String?) -> Void) {
        self.waiting.withLock { $0.append(reply) }
    }

    /// Answers everyone waiting now (one reply of the master serves every scrape that asked before it).
    func answerAll(_ text: String?) {
        let replies = self.waiting.withLock { waiting in
            defer { waiting = [] }
            return waiting
        }
        replies.forEach { $0(text) }
    }
}
