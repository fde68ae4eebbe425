#if canImport(Glibc)
import Glibc
#endif

/// Sending and receiving whole packets on either end of a worker channel (a SOCK_SEQPACKET socketpair).
public enum ChannelSocket {
    /// What became of a packet to send.
    public enum SendResult: Equatable, Sendable {
        /// Queued whole.
        case sent
        /// The peer's queue is full (EAGAIN): try again once the socket is writable.
        case full
        /// The peer is gone or the socket is broken (EPIPE, ECONNRESET, …): `errno` says which.
        case broken(errno: Int32)
    }

    /// Queues one packet without blocking (MSG_DONTWAIT) and without SIGPIPE (MSG_NOSIGNAL).
    public static func send(_ bytes: [UInt8], fd: Int32) -> SendResult {
        let sent = bytes.withUnsafeBytes { raw in
            retryingOnInterrupt { Glibc.send(fd, raw.baseAddress, raw.count, Int32(MSG_DONTWAIT | MSG_NOSIGNAL)) }
        }
        if sent == bytes.count {
            return .sent
        }
        if sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
            return .full
        }
        return .broken(errno: sent < 0 ? errno : EMSGSIZE)
    }

    /// Queues one packet without blocking. - Returns: `false` if it could not be queued (the peer is gone, or its
    /// queue is full).
    @discardableResult
    public static func send(_ packet: ChannelPacket, fd: Int32) -> Bool {
        Self.send(packet.encoded, fd: fd) == .sent
    }

    /// What one `receive` got.
    public enum Received: Equatable {
        /// One whole packet's bytes.
        case packet([UInt8])
        /// Nothing queued (non-blocking receive only).
        case empty
        /// EOF or a hard error: the peer closed its end or is gone.
        case closed
    }

    /// Receives one packet into `buffer` (at least `ChannelPacket.maximumSize` bytes).
    /// - Parameter blocking: wait for a packet; otherwise MSG_DONTWAIT.
    public static func receive(fd: Int32, into buffer: inout [UInt8], blocking: Bool) -> Received {
        let flags = blocking ? Int32(0) : Int32(MSG_DONTWAIT)
        let count = buffer.withUnsafeMutableBytes { bytes in
            retryingOnInterrupt { recv(fd, bytes.baseAddress, bytes.count, flags) }
        }
        if count > 0 {
            return .packet(Array(buffer[0..<count]))
        }
        if count < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
            return .empty
        }
        return .closed
    }
}

/// Retries a system call interrupted by a signal (EINTR), the usual loop around blocking calls.
@discardableResult
package func retryingOnInterrupt<Result: BinaryInteger>(_ call: () -> Result) -> Result {
    while true {
        let result = call()
        if result >= 0 || errno != EINTR {
            return result
        }
    }
}
