/// The client API keys of a gateway: the validated content of the file `FOAP_CLIENT_KEYS` names.
///
/// Part of ``ConfigSnapshot`` (nil there means keyless mode), so it is frozen per worker generation, covered by the
/// source digest (editing the file starts a new generation) and validated with the rest of the config (a broken
/// file keeps the old keys in force). It holds hashes only, never a usable key.
public struct ClientKeys: Sendable, Equatable, Codable {
    /// The key file's path as configured (relative paths are relative to the master's working directory).
    public let file: String
    /// In file order. Names and digests are unique (the loader rejects duplicates).
    public let keys: [ClientKey]
    /// `limit_groups`, in file order: limits shared by every key whose ``KeyLimits/group`` names them.
    public let groups: [LimitGroup]

    public init(file: String, keys: [ClientKey], groups: [LimitGroup] = []) {
        self.file = file
        self.keys = keys
        self.groups = groups
    }

    /// The group called `name`, if the file defines it.
    public func group(named name: String) -> LimitGroup? {
        self.groups.first { $0.name == name }
    }
}

/// One client key: who it belongs to, its SHA-256, the models it may use, and when it stops working.
public struct ClientKey: Sendable, Equatable, Codable {
    /// Written to access records as `key_name`, so an operator sees who sent what without the key in the log.
    public let name: String
    public let digest: ClientKeyDigest
    /// Exact ids and `*` globs; a request may use a model matched by any of them.
    public let models: [ModelPattern]
    /// The last day (UTC) the key works, as written (`2027-01-31`); nil: never expires.
    public let expires: String?
    /// Unix seconds of the first instant the key no longer works: midnight UTC after ``expires``.
    public let expiresAt: Int?
    /// Rates, budgets and concurrency (tier and own numbers resolved); nil: the key is unlimited.
    public let limits: KeyLimits?

    public init(
        name: String,
        digest: ClientKeyDigest,
        models: [ModelPattern],
        expires: ExpiryDate? = nil,
        limits: KeyLimits? = nil
    ) {
        self.name = name
        self.digest = digest
        self.models = models
        self.expires = expires?.text
        self.expiresAt = expires?.endOfDay
        self.limits = limits
    }

    /// Whether the key has expired at `now` (Unix seconds).
    public func isExpired(at now: Int) -> Bool {
        guard let expiresAt = self.expiresAt else {
            return false
        }
        return now >= expiresAt
    }

    /// Whether one of the key's patterns matches the model id.
    public func allows(model id: String) -> Bool {
        self.models.contains { $0.matches(id) }
    }
}

/// A calendar date `YYYY-MM-DD`, the form of a key's `expires`, read as a day in UTC.
///
/// UTC so that every worker and every host agree on the instant a key stops working, whatever its time zone.
public struct ExpiryDate: Sendable, Equatable {
    public let text: String
    /// Unix seconds of midnight UTC at the *end* of the day: the key works through the whole date it names.
    public let endOfDay: Int

    /// - Returns: nil unless `text` is exactly `YYYY-MM-DD` with a real date (leap years checked) from 1970 on.
    public init?(_ text: String) {
        let bytes = Array(text.utf8)
        guard bytes.count == 10, bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-"),
            let year = Self.number(bytes[0..<4]), let month = Self.number(bytes[5..<7]),
            let day = Self.number(bytes[8..<10]), year >= 1970, (1...12).contains(month),
            (1...Self.daysIn(month: month, year: year)).contains(day)
        else {
            return nil
        }
        self.text = text
        self.endOfDay = (Self.daysSinceEpoch(year: year, month: month, day: day) + 1) * 86_400
    }

    private static func number(_ digits: ArraySlice<UInt8>) -> Int? {
        var value = 0
        for byte in digits {
            guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else {
                return nil
            }
            value = value * 10 + Int(byte - UInt8(ascii: "0"))
        }
        return value
    }

    private static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2:
            let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
            return leap ? 29 : 28
        case 4, 6, 9, 11:
            return 30
        default:
            return 31
        }
    }

    /// Days from 1970-01-01 to the date (Howard Hinnant's `days_from_civil`), with no calendar library involved.
    private static func daysSinceEpoch(year: Int, month: Int, day: Int) -> Int {
        let shiftedYear = month <= 2 ? year - 1 : year
        let era = shiftedYear / 400
        let yearOfEra = shiftedYear - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }
}
