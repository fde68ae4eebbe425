import Foundation
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// What systemd hears from the master over `NOTIFY_SOCKET` during start, reload, watchdog and stop.
final class SystemdNotifyTests: XCTestCase {
    func testNotifiesReadyReloadingWatchdogAndStopping() async throws {
        let upstream = try self.startUpstream()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("foap-e2e-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        self.addTeardownBlock { try? FileManager.default.removeItem(at: directory) }
        let notify = try NotifySocket(directory: directory)
        let foap = try await self.startFoap(
            files: ["models.json": EndToEndConfig.file(upstream: upstream.baseURL, models: ["chat"])],
            environment: ["NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "1000000", "WATCHDOG_PID": nil]
        )
        try await foap.waitFor("READY=1 with a status") {
            notify.messages.contains { $0.contains("READY=1") && $0.contains("STATUS=generation 1, 3/3 workers ready") }
        }
        try await foap.waitFor("WATCHDOG=1 (every 0.5 s for WATCHDOG_USEC=1000000)") {
            notify.messages.contains { $0 == "WATCHDOG=1" }
        }

        foap.signal(SIGHUP)
        try await foap.waitFor("RELOADING=1 followed by READY=1") {
            let messages = notify.messages
            guard let reloading = messages.lastIndex(where: { $0.contains("RELOADING=1") }) else { return false }
            return messages[(reloading + 1)...].contains { $0.contains("READY=1") && $0.contains("generation 2") }
        }
        let reloading = try XCTUnwrap(notify.messages.first { $0.contains("RELOADING=1") })
        let fields = Self.fields(reloading)
        let monotonic = try XCTUnwrap(fields["MONOTONIC_USEC"].flatMap(UInt64.init), reloading)
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        XCTAssertLessThanOrEqual(monotonic, UInt64(now.tv_sec) * 1_000_000 + UInt64(now.tv_nsec) / 1000)
        XCTAssertNotNil(fields["STATUS"], reloading)

        foap.signal(SIGTERM)
        try await foap.waitFor("STOPPING=1") { notify.messages.contains { $0.contains("STOPPING=1") } }
        let status = await foap.waitForExit(timeout: .seconds(20))
        XCTAssertEqual(status, 0)
        XCTAssertGreaterThanOrEqual(notify.messages.filter { $0 == "WATCHDOG=1" }.count, 1)
    }

    /// `KEY=VALUE` lines of one datagram.
    private static func fields(_ message: String) -> [String: String] {
        var fields: [String: String] = [:]
        for line in message.split(separator: "\n") {
            guard let equals = line.firstIndex(of: "=") else { continue }
            fields[String(line[..<equals])] = String(line[line.index(after: equals)...])
        }
        return fields
    }
}
