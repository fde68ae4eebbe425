import Foundation
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// A worker that dies or hangs is replaced in its slot, and new connections keep being served meanwhile: they wait
/// in the slot's listener, which the master keeps open, until the replacement accepts them.
final class WorkerFailureTests: XCTestCase {
    /// `kill -9` of a worker: a new `worker spawned` record for its slot, and no request that started after the
    /// worker died fails. A request the killed process had already accepted dies with it (nothing can save it): at
    /// most one per loop, reported separately.
    func testKilledWorkerIsReplacedAndNewConnectionsNeverFail() async throws {
        let upstream = try self.startUpstream()
        let foap = try await self.startFoap(
            files: ["models.json": EndToEndConfig.file(upstream: upstream.baseURL, models: ["chat"])]
        )
        let victim = try XCTUnwrap(foap.workerPID(slot: 1))
        let load = LoadGenerator(baseURL: foap.baseURL, keepAliveClients: 0, freshLoops: 2, pauseMS: 1)
        try await foap.waitFor("some traffic before the kill") { load.report.successes >= 20 }

        kill(victim, SIGKILL)
        try await foap.waitFor("the killed worker to be gone") { ProcessProbe.isDead(victim) }
        let deadAt = ContinuousClock.now
        try await foap.waitFor("a replacement for slot 1") {
            foap.workerPID(slot: 1).map { $0 != victim } == true
        }
        try await foap.waitFor("the replacement to be ready") { foap.log.records("worker ready").count >= 4 }
        let successesAtReady = load.report.successes
        try await foap.waitFor("traffic after the replacement") { load.report.successes >= successesAtReady + 50 }
        let report = await load.stop()

        let exited = foap.log.records("worker exited unexpectedly", where: ["worker_pid": String(victim)])
        XCTAssertEqual(exited.count, 1, "the master reports the crash: \(foap.log.tail())")
        self.assertNoFailures(after: deadAt, in: report, loops: 2)
        print("kill -9 of a worker: \(report.summary)")
    }

    /// SIGSTOP of a worker: its heartbeats stop, the master kills it (`killing worker`, `missed heartbeats`) and
    /// spawns a replacement; connections that arrived for its slot meanwhile are served by the replacement.
    func testStoppedWorkerIsDetectedKilledAndReplaced() async throws {
        let upstream = try self.startUpstream()
        let foap = try await self.startFoap(
            files: ["models.json": EndToEndConfig.file(upstream: upstream.baseURL, models: ["chat"])]
        )
        let victim = try XCTUnwrap(foap.workerPID(slot: 2))
        let load = LoadGenerator(baseURL: foap.baseURL, keepAliveClients: 0, freshLoops: 2, pauseMS: 1)
        try await foap.waitFor("some traffic before the stop") { load.report.successes >= 20 }

        kill(victim, SIGSTOP)
        try await foap.waitFor("the worker to be stopped") { ProcessProbe.state(victim) == "T" }
        let stoppedAt = ContinuousClock.now
        // Requests opened now, some of them for the stopped slot, wait in its listener for the replacement.
        let waiting = Task {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<12 {
                    group.addTask { try await ProxyClient.shared.chat(foap.baseURL, fresh: true) }
                }
                try await group.waitForAll()
            }
        }
        try await foap.waitFor("the master to kill the stopped worker", timeout: .seconds(20)) {
            !foap.log.records("killing worker", where: ["worker_pid": String(victim), "reason": "missed heartbeats"])
                .isEmpty
        }
        try await foap.waitFor("a replacement for slot 2") {
            foap.workerPID(slot: 2).map { $0 != victim } == true
        }
        try await foap.waitFor("the replacement to be ready") { foap.log.records("worker ready").count >= 4 }
        try await waiting.value
        for _ in 0..<20 {
            try await ProxyClient.shared.chat(foap.baseURL, fresh: true)
        }
        let report = await load.stop()
        XCTAssertTrue(ProcessProbe.isDead(victim))
        self.assertNoFailures(after: stoppedAt, in: report, loops: 2)
        print("SIGSTOP of a worker: \(report.summary)")
    }

    /// Every failure must be a request that was already in the hands of the victim when it died or stopped.
    private func assertNoFailures(
        after moment: ContinuousClock.Instant,
        in report: LoadGenerator.Report,
        loops: Int,
        file: StaticString = #filePath,
        line: UInt = #line
    ) {
        let late = report.failures.filter { $0.startedAt >= moment }
        let summary = report.summary
        XCTAssertEqual(late.count, 0, "requests started after the failure failed: \(summary)", file: file, line: line)
        let inFlight = report.failures.filter { $0.startedAt < moment }
        let message = "only in-flight requests may die: \(summary)"
        XCTAssertLessThanOrEqual(inFlight.count, loops, message, file: file, line: line)
        if !inFlight.isEmpty {
            print("requests in flight in the victim when it died: \(inFlight)")
        }
    }
}
