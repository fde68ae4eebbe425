#if canImport(Glibc)
import Glibc
#endif

/// The master's end of one worker's control socketpair (SOCK_SEQPACKET: one word per packet, no framing needed).
enum ControlSocket {
    /// What one read of a control socket produced.
    struct ReadResult: Equatable {
        var messages: [WorkerMessage] = []
        /// EOF or a hard error: the worker is gone (or closed its end); its exit arrives through SIGCHLD.
        var closed = false
    }

    /// Reads every packet queued on the non-blocking `fd`. Unknown words are skipped (a newer worker may say more).
    static func readAvailable(fd: Int32) -> ReadResult {
        var result = ReadResult()
        var buffer = [UInt8](repeating: 0, count: 64)
        while true {
            let count = buffer.withUnsafeMutableBytes { bytes in
                retryingOnInterrupt { recv(fd, bytes.baseAddress, bytes.count, Int32(MSG_DONTWAIT)) }
            }
            if count > 0 {
                let word = String(decoding: buffer[0..<count], as: UTF8.self)
                if let message = WorkerMessage(rawValue: word) {
                    result.messages.append(message)
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

    /// Sends one message. - Returns: `false` if it could not be queued (the worker is gone or its queue is full).
    static func send(_ message: MasterMessage, fd: Int32) -> Bool {
        let word = Array(message.rawValue.utf8)
        let sent = word.withUnsafeBytes { bytes in
            retryingOnInterrupt { Glibc.send(fd, bytes.baseAddress, bytes.count, Int32(MSG_DONTWAIT | MSG_NOSIGNAL)) }
        }
        return sent == word.count
    }
}
