import CSystemd

#if canImport(Glibc)
import Glibc
#endif

/// Sends service state to systemd over `$NOTIFY_SOCKET` (sd_notify(3)).
///
/// Only the master talks to systemd (`NotifyAccess=main`), so a notifier exists only when `NOTIFY_SOCKET` is set:
/// `init?()` returns `nil` otherwise and callers do nothing at all, not even log. libsystemd handles the socket
/// address forms (path, `@abstract`, `vsock:`), which a hand-written sender tends to get wrong.
///
/// - Important: the messages are fire-and-forget datagrams. A failure is reported through the return value for
///   tests and diagnostics but never stops the service: systemd being gone must not take the gateway down.
public struct SystemdNotifier: Sendable {
    /// Reads `NOTIFY_SOCKET`; `nil` when it is unset or empty (not started by systemd with `Type=notify`).
    public init?() {
        guard let socket = getenv("NOTIFY_SOCKET"), socket.pointee != 0 else {
            return nil
        }
    }

    /// Sends raw `KEY=VALUE` lines joined by newlines.
    /// - Returns: `true` when the datagram was sent.
    @discardableResult
    public func send(_ assignments: [String]) -> Bool {
        sd_notify(0, assignments.joined(separator: "\n")) > 0
    }

    /// `READY=1` plus a status line: startup finished, or a reload finished (either way the service serves).
    @discardableResult
    public func ready(status: String) -> Bool {
        self.send(["READY=1", "STATUS=" + Self.oneLine(status)])
    }

    /// `RELOADING=1` with the `MONOTONIC_USEC` systemd ≥ 253 needs to match the reload with its later `READY=1`.
    @discardableResult
    public func reloading(status: String) -> Bool {
        self.send([
            "RELOADING=1",
            "MONOTONIC_USEC=\(MonotonicTime.microseconds())",
            "STATUS=" + Self.oneLine(status),
        ])
    }

    /// `STOPPING=1`: the service began its graceful shutdown.
    @discardableResult
    public func stopping(status: String) -> Bool {
        self.send(["STOPPING=1", "STATUS=" + Self.oneLine(status)])
    }

    /// Updates only the free-form status shown by `systemctl status`.
    @discardableResult
    public func status(_ status: String) -> Bool {
        self.send(["STATUS=" + Self.oneLine(status)])
    }

    /// `WATCHDOG=1`: the service loop is alive. Send it only after checking the service is healthy.
    @discardableResult
    public func watchdog() -> Bool {
        self.send(["WATCHDOG=1"])
    }

    /// Stores `fds` in systemd's file-descriptor store under `name` (`FDSTORE=1`), so that a restarted service gets
    /// them back through `LISTEN_FDS` with that name and queued connections survive the restart.
    /// Needs `FileDescriptorStoreMax=` in the unit; without it systemd drops them (harmless).
    @discardableResult
    public func storeFileDescriptors(_ fds: [Int32], name: String) -> Bool {
        guard !fds.isEmpty else {
            return true
        }
        let state = "FDSTORE=1\nFDNAME=" + Self.oneLine(name)
        return fds.withUnsafeBufferPointer { buffer in
            sd_pid_notify_with_fds(0, 0, state, buffer.baseAddress, UInt32(buffer.count)) > 0
        }
    }

    /// Status values are one line: a newline would start a new (bogus) assignment.
    static func oneLine(_ text: String) -> String {
        String(text.map { $0.isNewline ? " " : $0 })
    }
}

/// `CLOCK_MONOTONIC` in microseconds: the clock systemd uses for `MONOTONIC_USEC`.
public enum MonotonicTime {
    /// Now on `CLOCK_MONOTONIC`, in µs.
    public static func microseconds() -> UInt64 {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return UInt64(spec.tv_sec) * 1_000_000 + UInt64(spec.tv_nsec) / 1_000
    }
}
