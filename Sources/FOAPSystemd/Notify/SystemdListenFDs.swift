import CSystemd

#if canImport(Glibc)
import Glibc
#endif

/// A socket systemd passed through `LISTEN_FDS` (socket activation or the fd store).
public struct SystemdListenedSocket: Sendable, Equatable {
    /// The descriptor number in this process (3, 4, …).
    public let fd: Int32
    /// Its `LISTEN_FDNAMES` entry: `FileDescriptorName=` of a socket unit, the `FDNAME=` it was stored with, or
    /// `"unknown"` when systemd did not say.
    public let name: String

    public init(fd: Int32, name: String) {
        self.fd = fd
        self.name = name
    }
}

/// Reads the sockets handed over by systemd (sd_listen_fds_with_names(3)).
public enum SystemdListenFDs {
    /// The sockets for this process, or `[]` when none were passed or `LISTEN_PID` names another process.
    /// The environment is left as is; whoever spawns children must strip `LISTEN_*` from theirs.
    public static func take() -> [SystemdListenedSocket] {
        var names: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = nil
        let count = sd_listen_fds_with_names(0, &names)
        guard count > 0 else {
            return []
        }
        defer {
            if let names {
                for index in 0..<Int(count) {
                    free(names[index])
                }
                free(names)
            }
        }
        return (0..<count).map { index in
            let name = names?[Int(index)].map { String(cString: $0) } ?? "unknown"
            return SystemdListenedSocket(fd: SD_LISTEN_FDS_START + index, name: name)
        }
    }
}
