import FOAPConfig

/// Budget periods on the UTC calendar, with plain integer arithmetic: every worker and host agrees on when a
/// budget resets, whatever its time zone, and there is no calendar library to configure.
public enum UTCCalendar {
    static let nanosPerSecond: Int64 = 1_000_000_000
    static let secondsPerDay: Int64 = 86_400

    /// The number of the period `now` falls in: days since 1970-01-01, weeks since the Monday before it, or
    /// months since January 1970.
    static func periodNumber(_ period: BudgetPeriod, at now: Int64) -> Int64 {
        let day = Self.floorDivide(Self.floorDivide(now, Self.nanosPerSecond), Self.secondsPerDay)
        switch period {
        case .day:
            return day
        case .week:
            // 1970-01-01 was a Thursday; day 4 (1970-01-05) is the first Monday, and days -3...3 are week 0.
            return Self.floorDivide(day + 3, 7)
        case .month:
            let (year, month, _) = Self.civil(fromDays: day)
            return (year - 1970) * 12 + (month - 1)
        }
    }

    /// Unix seconds of the first instant of period `number`.
    static func start(of period: BudgetPeriod, number: Int64) -> Int64 {
        switch period {
        case .day:
            return number * Self.secondsPerDay
        case .week:
            return (number * 7 - 3) * Self.secondsPerDay
        case .month:
            let year = 1970 + Self.floorDivide(number, 12)
            let month = number - Self.floorDivide(number, 12) * 12 + 1
            return Self.days(year: year, month: month, day: 1) * Self.secondsPerDay
        }
    }

    /// Unix seconds when the period `now` falls in ends: the budget's reset. Public for the refusals a fleet host
    /// repeats without asking Redis, which still name the reset.
    public static func reset(of period: BudgetPeriod, at now: Int64) -> Int64 {
        Self.start(of: period, number: Self.periodNumber(period, at: now) + 1)
    }

    /// Days since 1970-01-01 of a civil date (Howard Hinnant's `days_from_civil`).
    static func days(year: Int64, month: Int64, day: Int64) -> Int64 {
        let shiftedYear = month <= 2 ? year - 1 : year
        let era = Self.floorDivide(shiftedYear, 400)
        let yearOfEra = shiftedYear - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    /// The civil date of a day number (Howard Hinnant's `civil_from_days`).
    static func civil(fromDays days: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let shifted = days + 719_468
        let era = Self.floorDivide(shifted, 146_097)
        let dayOfEra = shifted - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1_460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    static func floorDivide(_ value: Int64, _ divisor: Int64) -> Int64 {
        let quotient = value / divisor
        return value % divisor < 0 ? quotient - 1 : quotient
    }
}
