import FOAPConfig
import Foundation
import XCTest

@testable import FOAPLimits

/// The region file: created, reopened with usage kept, reset when its header does not fit, shared by mappings.
final class RegionTests: XCTestCase {
    private let keys: (XCTestCase) -> ClientKeys = { test in
        test.makeKeys([("k", KeyLimits(key: LimitSet(
            rates: [RateLimit(metric: .requests, period: .minute, limit: 10)],
            budgets: [BudgetLimit(period: .day, tokens: 1_000)], concurrentRequests: 5)))])
    }

    private func usage(_ region: LimitsRegion, now: Int64 = Clock.start) throws -> [Int] {
        try RateLimiter(region: region, holder: 0, keys: self.keys(self)).usage(now: now).flatMap { $0.limits.map(\.used) }
    }

    func testAReopenedRegionKeepsUsageAndZeroesInFlight() throws {
        let path = try self.makeRegionPath()
        var region: LimitsRegion? = try LimitsRegion(path: path, capacity: 16, now: Clock.start)
        XCTAssertEqual(region?.opening, .created)
        let limiter = try RateLimiter(region: region!, holder: 3, keys: self.keys(self))
        let ticket = try self.admitted(limiter.admit(AdmissionRequest(key: "k", model: "m", estimatedTokens: 250), now: Clock.start)).ticket
        XCTAssertEqual(try self.usage(region!), [1, 1, 250])
        // The master restarts while the request is in flight (the ticket's process is gone with it).
        let later = Clock.start + Clock.hour
        let reopened = try LimitsRegion(path: path, capacity: 16, now: later)
        XCTAssertEqual(reopened.opening, .reopened)
        XCTAssertEqual(try self.usage(reopened), [0, 1, 250], "the budget survives; nothing is in flight")
        XCTAssertEqual(reopened.occupiedScopes().map(\.name), ["k"])
        ticket.release()
        region = nil
        XCTAssertEqual(try self.usage(reopened), [0, 1, 250], "a late release of a dead holder's slot gives nothing")
    }

    func testAForeignOrResizedFileIsReset() throws {
        let path = try self.makeRegionPath()
        do {
            let region = try LimitsRegion(path: path, capacity: 16, now: Clock.start)
            let limiter = try RateLimiter(region: region, holder: 0, keys: self.keys(self))
            _ = try self.admitted(limiter.admit(AdmissionRequest(key: "k", model: "m", estimatedTokens: 250), now: Clock.start))
        }
        let resized = try LimitsRegion(path: path, capacity: 32, now: Clock.start)
        XCTAssertEqual(resized.opening, .reset(reason: "its size does not match"))
        XCTAssertEqual(try self.usage(resized), [0, 0, 0])
        _ = try RateLimiter(region: resized, holder: 0, keys: self.keys(self))
            .admit(AdmissionRequest(key: "k", model: "m", estimatedTokens: 250), now: Clock.start)
        // Same size, wrong magic: another program's file, or one torn before its header was written.
        let handle = try XCTUnwrap(FileHandle(forUpdatingAtPath: path))
        try handle.write(contentsOf: Data("NOTFOAP!".utf8))
        try handle.close()
        let foreign = try LimitsRegion(path: path, capacity: 32, now: Clock.start)
        XCTAssertEqual(foreign.opening, .reset(reason: "it is not a foap limits region"))
        XCTAssertEqual(try self.usage(foreign), [0, 0, 0])
        XCTAssertThrowsError(try LimitsRegion(path: "/nonexistent-dir/limits.region", now: Clock.start)) { error in
            XCTAssertTrue("\(error)".contains("cannot open the limits region"), "\(error)")
        }
    }

    /// Two mappings of one file (as the master and a worker have) are one state: a limit of 10 admits 10 in all.
    func testTwoMappingsOfOneFileBehaveAsOne() throws {
        let path = try self.makeRegionPath()
        let master = try LimitsRegion(path: path, capacity: 16, now: Clock.start)
        let worker = try LimitsRegion(inheriting: dup(master.fileDescriptor))
        XCTAssertEqual(worker.opening, .inherited)
        XCTAssertEqual(worker.capacity, 16)
        let other = try LimitsRegion(inheriting: open(path, O_RDWR))
        let limiters = try [master, worker, other].enumerated().map { holder, region in
            try RateLimiter(region: region, holder: holder, keys: self.keys(self))
        }
        var admitted = 0
        for round in 0..<30 {
            let decision = limiters[round % 3].admit(AdmissionRequest(key: "k", model: "m", estimatedTokens: 1), now: Clock.start)
            if case .admitted(let admission) = decision {
                admitted += 1
                admission.ticket.release()
            }
        }
        XCTAssertEqual(admitted, 10)
        XCTAssertEqual(try self.usage(other), [0, 10, 10])
    }

    func testAnonymousRegionsAreSharedThroughTheirDescriptor() throws {
        let master = try LimitsRegion(path: nil, capacity: 8, now: Clock.start)
        XCTAssertEqual(master.opening, .created)
        let worker = try LimitsRegion(inheriting: dup(master.fileDescriptor))
        let ticket = try self.admitted(
            try RateLimiter(region: worker, holder: 9, keys: self.keys(self))
                .admit(AdmissionRequest(key: "k", model: "m", estimatedTokens: 5), now: Clock.start)
        ).ticket
        XCTAssertEqual(try self.usage(master), [1, 1, 5])
        XCTAssertEqual(master.reclaim(holder: 9), 1)
        XCTAssertEqual(try self.usage(master), [0, 1, 5])
        XCTAssertFalse(ticket.isReleased)
    }

    func testAnInheritedDescriptorThatIsNotARegionIsRefused() throws {
        let path = try self.makeRegionPath()
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data(repeating: 7, count: 4_096)))
        XCTAssertThrowsError(try LimitsRegion(inheriting: open(path, O_RDWR)))
    }
}
