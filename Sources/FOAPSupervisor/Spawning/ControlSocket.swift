#if canImport(Glibc)
import Glibc
#endif

/// The master's end of one worker's control socketpair (SOCK_SEQPACKET: one word per packet, no framing needed).
enum ControlSocket {
    /// What one read of a control socket produced.
    struct ReadResult: Equatable {
        var messages: [WorkerMessage] = []
        /// Metrics report packets (`metrics\n` + Prometheus text), without their first line.
        var metricsReports: [Substring] = []
        /// The worker asked for the summed metrics (`metrics?`) this many times.
        var expositionRequests = 0
        /// EOF or a hard error: the worker is gone (or closed its end); its exit arrives through SIGCHLD.
        var closed = false
    }

    /// Reads every packet queued on the non-blocking `fd`. Unknown words are skipped (a newer worker may say more).
    static func readAvailable(fd: Int32) -> ReadResult {
        var result = ReadResult()
        var buffer = [UInt8](repeating: 0, count: Self.maximumPacket)
        while true {
            let count = buffer.withUnsafeMutableBytes { bytes in
                retryingOnInterrupt { recv(fd, bytes.baseAddress, bytes.count, Int32(MSG_DONTWAIT)) }
            }
            if count > 0 {
                let word = String(decoding: buffer[0..<count], as: UTF8.self)
                if let message = WorkerMessage(rawValue: word) {
                    result.messages.append(message)
                } else if word.hasPrefix(Self.metricsReportPrefix) {
                    result.metricsReports.append(word.dropFirst(Self.metricsReportPrefix.count))
                } else if word == Self.expositionRequest {
                    result.expositionRequests += 1
                }
                continue
            }
            if count < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
                return result
            }
            result.closed = true
            return result
        }
    }

    /// Large enough for one metrics packet (`MetricsPackets.limit`) and its first line.
    static let maximumPacket = 64 * 1024
    static let metricsReportPrefix = "metrics\n"
    static let expositionRequest = "metrics?"
    static let expositionPrefix = "exposition\n"
    static let expositionEnd = "exposition-end"

    /// Sends text as one packet without blocking (a control word, a metrics packet), either way.
    /// - Returns: `false` if it could not be queued (the peer is gone, or its queue is full: errno says which).
    @discardableResult
    static func send(packet: String, fd: Int32) -> Bool {
        let bytes = Array(packet.utf8)
        let sent = bytes.withUnsafeBytes { raw in
            retryingOnInterrupt { Glibc.send(fd, raw.baseAddress, raw.count, Int32(MSG_DONTWAIT | MSG_NOSIGNAL)) }
        }
        return sent == bytes.count
    }

    /// Sends the summed metrics to a worker that asked: its packets, then the end marker.
    ///
    /// The socket holds only ~200 KB; a larger answer waits (poll for POLLOUT) while the worker's receiving thread,
    /// which reads at once, drains it — bounded by `deadline` in all, so a stuck worker cannot stall the master.
    /// - Returns: false when it could not be sent in time (the worker's scrape then gets a 503).
    @discardableResult
    static func sendExposition(_ text: String, fd: Int32, within deadline: Duration = .seconds(1)) -> Bool {
        let end = ContinuousClock.now + deadline
        for packet in MetricsPackets.split(text, repeatingHeaders: false).map({ Self.expositionPrefix + $0 }) + [Self.expositionEnd] {
            while !Self.send(packet: packet, fd: fd) {
                guard errno == EAGAIN || errno == EWOULDBLOCK else { return false }
                let milliseconds = ContinuousClock.now.duration(to: end).pollMilliseconds
                guard milliseconds > 0 else { return false }
                var writable = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                _ = poll(&writable, 1, milliseconds)
            }
        }
        return true
    }

    /// Sends one message. - Returns: `false` if it could not be queued (the worker is gone or its queue is full).
    static func send(_ message: MasterMessage, fd: Int32) -> Bool {
        Self.send(packet: message.rawValue, fd: fd)
    }
}
