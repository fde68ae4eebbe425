import Glibc

/// A wall-clock instant with millisecond precision, written as RFC 3339 UTC (`2026-11-25T22:13:04.123Z`).
///
/// Formatting happens once per record on the access-log hot path, so it uses `gmtime_r` and writes digits straight
/// into the record's byte buffer: no `DateFormatter`, no intermediate `String`. Handlers take the clock as a
/// closure so tests can pin the time.
struct LogTimestamp: Hashable, Sendable {
    /// Whole seconds since the Unix epoch.
    var secondsSinceEpoch: Int
    /// Milliseconds within that second, `0..<1000`.
    var milliseconds: Int

    init(secondsSinceEpoch: Int, milliseconds: Int) {
        precondition((0..<1000).contains(milliseconds), "milliseconds out of range: \(milliseconds)")
        self.secondsSinceEpoch = secondsSinceEpoch
        self.milliseconds = milliseconds
    }

    /// Reads `CLOCK_REALTIME`: log timestamps are for correlating with other systems, so wall time is right here.
    @Sendable
    static func now() -> LogTimestamp {
        var time = timespec()
        clock_gettime(CLOCK_REALTIME, &time)
        return LogTimestamp(secondsSinceEpoch: Int(time.tv_sec), milliseconds: Int(time.tv_nsec) / 1_000_000)
    }

    /// Appends `YYYY-MM-DDTHH:MM:SS.mmmZ` (24 bytes).
    func append(to buffer: inout [UInt8]) {
        var seconds = time_t(self.secondsSinceEpoch)
        var parts = tm()
        _ = gmtime_r(&seconds, &parts)
        Self.appendDigits(Int(parts.tm_year) + 1900, count: 4, to: &buffer)
        buffer.append(UInt8(ascii: "-"))
        Self.appendDigits(Int(parts.tm_mon) + 1, count: 2, to: &buffer)
        buffer.append(UInt8(ascii: "-"))
        Self.appendDigits(Int(parts.tm_mday), count: 2, to: &buffer)
        buffer.append(UInt8(ascii: "T"))
        Self.appendDigits(Int(parts.tm_hour), count: 2, to: &buffer)
        buffer.append(UInt8(ascii: ":"))
        Self.appendDigits(Int(parts.tm_min), count: 2, to: &buffer)
        buffer.append(UInt8(ascii: ":"))
        Self.appendDigits(Int(parts.tm_sec), count: 2, to: &buffer)
        buffer.append(UInt8(ascii: "."))
        Self.appendDigits(self.milliseconds, count: 3, to: &buffer)
        buffer.append(UInt8(ascii: "Z"))
    }

    /// Appends the `count` lowest decimal digits of a non-negative `value`, zero-padded.
    private static func appendDigits(_ value: Int, count: Int, to buffer: inout [UInt8]) {
        var divisor = 1
        for _ in 1..<count {
            divisor *= 10
        }
        var remaining = value
        while divisor > 0 {
            buffer.append(UInt8(ascii: "0") + UInt8((remaining / divisor) % 10))
            remaining %= divisor
            divisor /= 10
        }
    }
}
