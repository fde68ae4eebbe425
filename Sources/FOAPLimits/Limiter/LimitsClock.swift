#if canImport(Glibc)
import Glibc
#endif

/// The limits' clock: wall-clock nanoseconds since the epoch, the same in every process of the host (and across a
/// restart, which a monotonic clock is not), as every `now:` parameter of this module expects.
public enum LimitsClock {
    public static func now() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
    }
}
