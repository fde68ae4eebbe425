/// A lifecycle word a worker sends its master.
public enum WorkerMessage: String, Sendable, CaseIterable {
    /// The worker is set up and waits for `accept`: the master may retire the previous generation.
    case ready
    /// Sent every 0.5 s from the worker's event loop; silence for the heartbeat timeout gets it killed.
    case heartbeat
    /// The worker stopped accepting after a `drain` and is finishing in-flight work.
    case draining
}

/// A lifecycle word the master sends a worker.
public enum MasterMessage: String, Sendable, CaseIterable {
    /// Stop accepting, finish in-flight requests and streams, then exit.
    case drain
    /// Start accepting on the inherited listeners: no other worker of the slot accepts on them any more.
    case accept
}

/// One packet of the worker channel: the SOCK_SEQPACKET socketpair between the master and each of its workers
/// (not the `foap ctl` control socket). The kernel keeps packet boundaries, so a packet needs no framing: it is
/// a word, or a first line naming what the rest of it is.
///
/// The bytes are a contract between two builds of foap, not only one: a binary replaced at its path is what the
/// master spawns next, so an old master may talk to a new worker. The words never change; a word one side does not
/// know decodes to nil and is skipped.
///
/// | packet | bytes | direction |
/// | --- | --- | --- |
/// | `worker(_)` | `ready`, `heartbeat`, `draining` | worker → master |
/// | `metricsReport(text)` | `metrics\n` + Prometheus text (one chunk of the worker's cumulative series) | worker → master |
/// | `metricsRequest` | `metrics?` (a `GET /metrics` waits for the master's sum) | worker → master |
/// | `master(_)` | `drain`, `accept` | master → worker |
/// | `expositionPart(text)` | `exposition\n` + a piece of the summed text | master → worker |
/// | `expositionEnd` | `exposition-end` (the pieces so far are the whole answer) | master → worker |
public enum ChannelPacket: Equatable, Sendable {
    case worker(WorkerMessage)
    case metricsReport(String)
    case metricsRequest
    case master(MasterMessage)
    case expositionPart(String)
    case expositionEnd

    /// The largest packet either side sends or reads: one metrics chunk (`MetricsPackets.limit`) and its first line.
    public static let maximumSize = 64 * 1024

    static let metricsReportPrefix = "metrics\n"
    static let metricsRequestWord = "metrics?"
    static let expositionPartPrefix = "exposition\n"
    static let expositionEndWord = "exposition-end"

    /// The packet's bytes on the wire.
    public var encoded: [UInt8] {
        switch self {
        case .worker(let message): Array(message.rawValue.utf8)
        case .master(let message): Array(message.rawValue.utf8)
        case .metricsReport(let text): Array((Self.metricsReportPrefix + text).utf8)
        case .metricsRequest: Array(Self.metricsRequestWord.utf8)
        case .expositionPart(let text): Array((Self.expositionPartPrefix + text).utf8)
        case .expositionEnd: Array(Self.expositionEndWord.utf8)
        }
    }

    /// Reads one whole packet. - Returns: nil for a packet this build does not know (a newer peer may say more,
    /// or the bytes are garbage): the caller skips it. Text that is not UTF-8 is decoded with replacement characters.
    public init?(decoding bytes: some Collection<UInt8>) {
        let text = String(decoding: bytes, as: UTF8.self)
        if let message = WorkerMessage(rawValue: text) {
            self = .worker(message)
        } else if let message = MasterMessage(rawValue: text) {
            self = .master(message)
        } else if text == Self.metricsRequestWord {
            self = .metricsRequest
        } else if text == Self.expositionEndWord {
            self = .expositionEnd
        } else if text.hasPrefix(Self.metricsReportPrefix) {
            self = .metricsReport(String(text.dropFirst(Self.metricsReportPrefix.count)))
        } else if text.hasPrefix(Self.expositionPartPrefix) {
            self = .expositionPart(String(text.dropFirst(Self.expositionPartPrefix.count)))
        } else {
            return nil
        }
    }
}
