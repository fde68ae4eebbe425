import Glibc

/// A wall-clock instant with millisecond precision, written as RFC 3339 UTC (`2026-11-25T22:13:04.123Z`).
///
/// Formatting happens once per record on the access-log hot path, so it computes the date arithmetically and
/// writes the digits straight into the record's bytes: no `DateFormatter`, no intermediate `String`. Handlers take
/// the clock as a closure so tests can pin the time.
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

    /// The length of the text: `YYYY-MM-DDTHH:MM:SS.mmmZ`.
    static let length = 24
    /// Where the milliseconds start in the text.
    static let millisecondsOffset = 20

    /// Appends `YYYY-MM-DDTHH:MM:SS.mmmZ` (24 bytes), formatted on the stack and appended in one piece.
    func append<Output: ByteOutput>(to buffer: inout Output) {
        withUnsafeTemporaryAllocation(byteCount: Self.length, alignment: 1) { text in
            self.write(into: text)
            buffer.append(bytes: UnsafeRawBufferPointer(text))
        }
    }

    /// Writes the 24 bytes of the text into `text`.
    func write(into text: UnsafeMutableRawBufferPointer) {
        let days = Self.floorDivide(self.secondsSinceEpoch, 86_400)
        let secondOfDay = self.secondsSinceEpoch - days * 86_400
        let date = Self.civilDate(daysSinceEpoch: days)
        var cursor = 0
        func put(_ value: Int, digits: Int, then separator: UInt8) {
            Self.put(value, digits: digits, at: cursor, in: text)
            text[cursor + digits] = separator
            cursor += digits + 1
        }
        put(date.year, digits: 4, then: UInt8(ascii: "-"))
        put(date.month, digits: 2, then: UInt8(ascii: "-"))
        put(date.day, digits: 2, then: UInt8(ascii: "T"))
        put(secondOfDay / 3600, digits: 2, then: UInt8(ascii: ":"))
        put(secondOfDay / 60 % 60, digits: 2, then: UInt8(ascii: ":"))
        put(secondOfDay % 60, digits: 2, then: UInt8(ascii: "."))
        put(self.milliseconds, digits: 3, then: UInt8(ascii: "Z"))
    }

    /// `value`'s last `digits` decimal digits, zero-padded, at `offset` in `text`.
    static func put(_ value: Int, digits: Int, at offset: Int, in text: UnsafeMutableRawBufferPointer) {
        var remaining = value
        for index in stride(from: offset + digits - 1, through: offset, by: -1) {
            text[index] = UInt8(ascii: "0") + UInt8(remaining % 10)
            remaining /= 10
        }
    }

    /// The proleptic Gregorian date of a day counted from 1970-01-01 (Howard Hinnant's `civil_from_days`): plain
    /// arithmetic, where `gmtime_r` also takes glibc's time zone lock for every record.
    static func civilDate(daysSinceEpoch: Int) -> (year: Int, month: Int, day: Int) {
        let shifted = daysSinceEpoch + 719_468  // days since 0000-03-01
        let era = Self.floorDivide(shifted, 146_097)
        let dayOfEra = shifted - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)  // from March 1st
        let shiftedMonth = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * shiftedMonth + 2) / 5 + 1
        let month = shiftedMonth < 10 ? shiftedMonth + 3 : shiftedMonth - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    private static func floorDivide(_ value: Int, _ divisor: Int) -> Int {
        value >= 0 ? value / divisor : (value - divisor + 1) / divisor
    }
}

/// The text of the last second a record was written in, kept by a batch: the records of one second (all but one,
/// under load) write only their milliseconds, where the date arithmetic cost ~1,000 instructions per access line.
struct TimestampCache {
    private var second = Int.min
    private var text = [UInt8](repeating: 0, count: LogTimestamp.length)

    mutating func append<Output: ByteOutput>(_ timestamp: LogTimestamp, to line: inout Output) {
        let fresh = timestamp.secondsSinceEpoch != self.second
        self.second = timestamp.secondsSinceEpoch
        self.text.withUnsafeMutableBytes { text in
            if fresh {
                timestamp.write(into: text)
            } else {
                LogTimestamp.put(timestamp.milliseconds, digits: 3, at: LogTimestamp.millisecondsOffset, in: text)
            }
            line.append(bytes: UnsafeRawBufferPointer(text))
        }
    }
}
