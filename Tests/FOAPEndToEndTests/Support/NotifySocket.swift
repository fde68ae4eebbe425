import Foundation
import NIOConcurrencyHelpers

#if canImport(Glibc)
import Glibc
#endif

/// Plays systemd's side of sd_notify: an `AF_UNIX` `SOCK_DGRAM` socket bound in a temporary directory, whose path
/// the test passes as `NOTIFY_SOCKET`. Datagrams are read without blocking whenever the test looks.
final class NotifySocket: Sendable {
    let path: String
    private let fd: Int32
    private let received = NIOLockedValueBox<[String]>([])

    init(directory: URL) throws {
        self.path = directory.appendingPathComponent("notify.sock").path
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.EMFILE) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let pathBytes = Array(self.path.utf8)
        precondition(pathBytes.count < MemoryLayout.size(ofValue: address.sun_path), "socket path too long")
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            buffer.copyBytes(from: pathBytes)
        }
        let bound = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard bound == 0 else {
            close(fd)
            throw POSIXError(.EADDRINUSE)
        }
        self.fd = fd
    }

    deinit {
        close(self.fd)
        unlink(self.path)
    }

    /// Every datagram received so far, oldest first. (File descriptors sent with `FDSTORE=1` are discarded by
    /// the kernel, since no control buffer is offered.)
    var messages: [String] {
        self.received.withLockedValue { received in
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let count = buffer.withUnsafeMutableBytes {
                    recv(self.fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT))
                }
                guard count > 0 else { break }
                received.append(String(decoding: buffer[0..<count], as: UTF8.self))
            }
            return received
        }
    }
}
