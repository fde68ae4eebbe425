import FOAPConfig
import Foundation
import XCTest

@testable import FOAPLimits

/// A deterministic generator (SplitMix64), so randomized tests replay exactly.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) {
        self.state = seed
    }

    mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

enum Clock {
    static let second: Int64 = 1_000_000_000
    static let minute = 60 * second
    static let hour = 60 * minute
    static let day = 24 * hour

    /// Wall-clock nanoseconds of a UTC instant.
    static func utc(_ year: Int64, _ month: Int64, _ day: Int64, _ hour: Int64 = 0, _ minute: Int64 = 0) -> Int64 {
        (UTCCalendar.days(year: year, month: month, day: day) * 86_400 + hour * 3_600 + minute * 60) * second
    }

    /// Wednesday 2026-03-04 10:00 UTC: a plain weekday, mid-month.
    static let start = utc(2026, 3, 4, 10)
}

extension XCTestCase {
    /// A fresh anonymous region (gone when the test drops it).
    func makeRegion(capacity: Int = 64) throws -> LimitsRegion {
        try LimitsRegion(path: nil, capacity: capacity, now: Clock.start)
    }

    /// A region file in a fresh directory removed when the test ends.
    func makeRegionPath() throws -> String {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("foap-limits-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: false)
        self.addTeardownBlock { try? FileManager.default.removeItem(at: directory) }
        return directory.path + "/" + LimitsRegion.fileName
    }

    /// Client keys whose limits are given directly (the file format is tested in FOAPConfigTests).
    func makeKeys(_ entries: [(String, KeyLimits?)], groups: [LimitGroup] = []) -> ClientKeys {
        ClientKeys(
            file: "keys.json",
            keys: entries.map { name, limits in
                ClientKey(name: name, digest: ClientKeyDigest(hashing: name.utf8), models: [ModelPattern("*")],
                          limits: limits)
            },
            groups: groups
        )
    }

    func admitted(
        _ decision: AdmissionDecision,
        file: StaticString = #filePath,
        line: UInt = #line
    ) throws -> Admission {
        guard case .admitted(let admission) = decision else {
            XCTFail("expected an admission, got \(decision)", file: file, line: line)
            throw Unexpected()
        }
        return admission
    }

    func refused(_ decision: AdmissionDecision, file: StaticString = #filePath, line: UInt = #line) throws -> Refusal {
        guard case .refused(let refusal) = decision else {
            XCTFail("expected a refusal", file: file, line: line)
            throw Unexpected()
        }
        return refusal
    }
}

struct Unexpected: Error {}

extension LimitSet {
    static func rate(_ metric: LimitMetric, _ period: RatePeriod, _ limit: Int, burst: Int? = nil) -> LimitSet {
        LimitSet(rates: [RateLimit(metric: metric, period: period, limit: limit, burst: burst)])
    }
}
