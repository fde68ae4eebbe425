import FOAPConfig
import Foundation
import XCTest

@testable import FOAPLimits

/// Several real processes hammering one limit through one region file admit exactly the limit, in total.
///
/// The helpers are this test binary run again on ``testHelperHammersWhenAskedTo`` (a no-op unless the
/// environment names a region file), so no extra executable is needed.
final class MultiProcessTests: XCTestCase {
    static let fileVariable = "FOAP_LIMITS_TEST_REGION"
    static let holderVariable = "FOAP_LIMITS_TEST_HOLDER"
    static let attempts = 20_000
    static let startVariable = "FOAP_LIMITS_TEST_START"
    static let keys = ClientKeys(
        file: "keys.json",
        keys: [ClientKey(
            name: "k", digest: ClientKeyDigest(hashing: "k".utf8), models: [ModelPattern("*")],
            limits: KeyLimits(key: LimitSet(
                rates: [RateLimit(metric: .requests, period: .hour, limit: 500)],
                budgets: [BudgetLimit(period: .day, tokens: 900)]))
        )]
    )

    func testSeveralProcessesOnOneFileAdmitExactlyTheLimit() throws {
        let path = try self.makeRegionPath()
        let region = try LimitsRegion(path: path, capacity: 16, now: Clock.start)
        // All helpers start hammering at the same instant, so their CAS loops really contend.
        let start = Date().timeIntervalSince1970 + 0.5
        let helpers = try (0..<4).map { holder in try self.startHelper(path: path, holder: holder, start: start) }
        var admitted = 0
        for (process, output) in helpers {
            process.waitUntilExit()
            let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            XCTAssertEqual(process.terminationStatus, 0, text)
            let line = try XCTUnwrap(text.split(separator: "\n").first { $0.hasPrefix("ADMITTED=") }, text)
            admitted += try XCTUnwrap(Int(line.dropFirst("ADMITTED=".count)))
        }
        // 80000 attempts of 2 tokens each: the day's 900 tokens run out at 450, before the 500 requests per hour.
        XCTAssertEqual(admitted, 450)
        let usage = try RateLimiter(region: region, holder: 0, keys: Self.keys).usage(now: Clock.start)
        XCTAssertEqual(usage.first?.limits.map(\.used), [450, 900])
    }

    /// The helper's side: a no-op in a normal run.
    func testHelperHammersWhenAskedTo() throws {
        let environment = ProcessInfo.processInfo.environment
        guard let path = environment[Self.fileVariable], let holder = environment[Self.holderVariable].flatMap(Int.init)
        else {
            return
        }
        let start = environment[Self.startVariable].flatMap(Double.init) ?? 0
        while Date().timeIntervalSince1970 < start {
            usleep(1_000)
        }
        let descriptor = open(path, O_RDWR | O_CLOEXEC)
        let limiter = try RateLimiter(region: try LimitsRegion(inheriting: descriptor), holder: holder, keys: Self.keys)
        var admitted = 0
        for _ in 0..<Self.attempts {
            let request = AdmissionRequest(key: "k", model: "m", estimatedTokens: 2)
            if case .admitted = limiter.admit(request, now: Clock.start) {
                admitted += 1
            }
        }
        print("ADMITTED=\(admitted)")
    }

    private func startHelper(path: String, holder: Int, start: Double) throws -> (Process, Pipe) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: CommandLine.arguments[0])
        process.arguments = ["FOAPLimitsTests.MultiProcessTests/testHelperHammersWhenAskedTo"]
        process.environment = ProcessInfo.processInfo.environment.merging(
            [Self.fileVariable: path, Self.holderVariable: String(holder), Self.startVariable: String(start)]
        ) { $1 }
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        return (process, output)
    }
}
