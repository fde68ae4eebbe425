#if canImport(Glibc)
import Glibc
#endif

import FOAPWorkerChannel

/// The `foap ctl` side of the control socket: connect, send one command, read the reply until the master closes.
public enum ControlClient {
    /// - Parameter timeout: how long to wait for the whole reply (a `reload --wait` lasts as long as the reload).
    /// - Throws: `SystemCallError` when the socket cannot be reached (no master, wrong path) or the reply times out.
    public static func send(_ command: ControlCommand, to path: String, timeout: Duration) throws -> ControlReply {
        let address = try SocketAddress.unix(path: path)
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else {
            throw SystemCallError("socket", context: "AF_UNIX")
        }
        defer { close(fd) }
        let connected = address.withSockaddr { connect(fd, $0, $1) }
        guard connected == 0 else {
            throw SystemCallError("connect", context: path)
        }
        let (seconds, attoseconds) = timeout.components
        var limit = timeval(tv_sec: Int(seconds), tv_usec: Int(attoseconds / 1_000_000_000_000))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        let line = Array((command.line + "\n").utf8)
        let sent = line.withUnsafeBytes { bytes in
            retryingOnInterrupt { Glibc.send(fd, bytes.baseAddress, bytes.count, Int32(MSG_NOSIGNAL)) }
        }
        guard sent == line.count else {
            throw SystemCallError("send", context: path)
        }
        var reply: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = chunk.withUnsafeMutableBytes { bytes in
                retryingOnInterrupt { recv(fd, bytes.baseAddress, bytes.count, 0) }
            }
            if count == 0 {
                break
            }
            guard count > 0 else {
                let timedOut = errno == EAGAIN || errno == EWOULDBLOCK
                let call = timedOut ? "waiting for the reply" : "recv"
                throw SystemCallError(call, errno: timedOut ? ETIMEDOUT : errno, context: path)
            }
            reply += chunk[0..<count]
        }
        return ControlReply(text: String(decoding: reply, as: UTF8.self))
    }
}
