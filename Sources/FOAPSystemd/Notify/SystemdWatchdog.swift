import CSystemd

/// The systemd watchdog settings (`WATCHDOG_USEC`, `WATCHDOG_PID`) as sd_watchdog_enabled(3) reads them.
public enum SystemdWatchdog {
    /// How often to send `WATCHDOG=1`: half of `WATCHDOG_USEC`, as sd_watchdog_enabled(3) recommends, or `nil` when
    /// the watchdog is off or `WATCHDOG_PID` names another process (libsystemd compares it with getpid()).
    public static func pingInterval() -> Duration? {
        var microseconds: UInt64 = 0
        guard sd_watchdog_enabled(0, &microseconds) > 0, microseconds > 0 else {
            return nil
        }
        return .microseconds(Int64(microseconds / 2))
    }
}
