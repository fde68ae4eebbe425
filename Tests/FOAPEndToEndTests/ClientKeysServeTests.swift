import AsyncHTTPClient
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import XCTest

/// Client keys with the real binary: `foap keys new`, a key revoked by editing the key file under load with
/// `foap serve --workers 2`, and keyless mode's warning.
final class ClientKeysServeTests: XCTestCase {
    private func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("foap-keys-e2e-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        self.addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }

    private func writeModels(to directory: URL, upstream: String) throws {
        let config = """
            {"mock": {"target_base_url": "\(upstream)", "models": {
              "chat-a": {"endpoints": [{"path": "v1/chat/completions", "target_model_name": "up-a"}]},
              "chat-b": {"endpoints": [{"path": "v1/chat/completions", "target_model_name": "up-b"}]}}}}
            """
        try config.write(to: directory.appendingPathComponent("models.json"), atomically: true, encoding: .utf8)
    }

    /// Runs `foap keys new` and returns the key and the JSON entry it printed.
    private func newKey(_ arguments: [String]) throws -> (key: String, entry: String) {
        let result = try runFoap(["keys", "new"] + arguments)
        XCTAssertEqual(result.status, 0, result.stderr)
        let lines = result.stdout.split(separator: "\n").map(String.init)
        let key = try XCTUnwrap(lines.first { $0.hasPrefix("sk-foap-") }, result.stdout)
        let entry = try XCTUnwrap(lines.first { $0.hasPrefix("{") }, result.stdout)
        return (key, entry)
    }

    static func sha256Hex(_ text: String) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/sha256sum")
        let input = Pipe()
        let output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        input.fileHandleForWriting.write(Data(text.utf8))
        try input.fileHandleForWriting.close()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(String(decoding: data, as: UTF8.self).prefix(64))
    }

    func testKeysNewPrintsAFreshKeyAndAnEntryWhoseHashMatches() throws {
        let first = try self.newKey(
            ["--name", "team-a", "--models", "openai-*", "--models", "local/x", "--expires", "2027-01-31"]
        )
        let second = try self.newKey(["--name", "team-a", "--models", "*"])
        XCTAssertNotEqual(first.key, second.key)
        let random = first.key.dropFirst("sk-foap-".count)
        XCTAssertEqual(random.count, 43, "32 bytes of base64url")
        XCTAssertTrue(random.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") })

        let entry = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(first.entry.utf8)) as? [String: Any])
        XCTAssertEqual(entry["name"] as? String, "team-a")
        XCTAssertEqual(entry["models"] as? [String], ["openai-*", "local/x"])
        XCTAssertEqual(entry["expires"] as? String, "2027-01-31")
        XCTAssertEqual(entry["sha256"] as? String, try Self.sha256Hex(first.key))
        XCTAssertFalse(first.entry.contains(first.key), "the entry holds only the hash")

        let invalid = try runFoap(["keys", "new", "--name", "x", "--models", "*", "--expires", "2027-02-30"])
        XCTAssertNotEqual(invalid.status, 0)
        XCTAssertTrue(invalid.stderr.contains("--expires"), invalid.stderr)
    }

    /// Editing the key file revokes a key after the reload, while requests with another key keep being served.
    func testKeyRevokedByEditingTheFileStopsWorkingWhileOtherRequestsFlow() async throws {
        let upstream = try self.startUpstream()
        let directory = try self.temporaryDirectory()
        let configs = try directory.appendingPathComponent("configs", isDirectory: true).creatingDirectory()
        try self.writeModels(to: configs, upstream: upstream.baseURL)
        let kept = try self.newKey(["--name", "kept", "--models", "chat-*"])
        let revoked = try self.newKey(["--name", "revoked", "--models", "chat-a"])
        let keyFile = directory.appendingPathComponent("secrets/clients.json")
        _ = try keyFile.deletingLastPathComponent().creatingDirectory()
        try #"{"keys": [\#(kept.entry), \#(revoked.entry)]}"#.write(to: keyFile, atomically: true, encoding: .utf8)

        let server = try FoapProcess(
            serveArguments: ["--workers", "2", "--config-dir", directory.appendingPathComponent("configs").path],
            environment: ["FOAP_CLIENT_KEYS": keyFile.path, "FOAP_DRAIN_TIMEOUT": "10"]
        )
        self.addTeardownBlock { await server.stop() }
        let port = server.port
        try await server.waitForLine("all workers ready")
        XCTAssertTrue(server.log.lines("keyless mode: the gateway is OPEN").isEmpty)

        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        self.addTeardownBlock { try await client.shutdown() }
        let url = "http://127.0.0.1:\(port)/v1/chat/completions"
        @Sendable func status(_ key: String, model: String) async throws -> UInt {
            var request = HTTPClientRequest(url: url)
            request.method = .POST
            request.headers.add(name: "Authorization", value: "Bearer \(key)")
            request.headers.add(name: "Content-Type", value: "application/json")
            // A connection per request: this test is about key reloads, not keep-alive races with draining workers.
            request.headers.add(name: "Connection", value: "close")
            request.body = .bytes(ByteBuffer(string: #"{"model":"\#(model)","messages":[]}"#))
            let response = try await client.execute(request, timeout: .seconds(30))
            _ = try await response.body.collect(upTo: 1 << 20)
            return response.status.code
        }
        let revokedBefore = try await status(revoked.key, model: "chat-a")
        XCTAssertEqual(revokedBefore, 200)

        // Requests with the kept key flow the whole time; bounded in count and time.
        // Stopped by a flag, not by cancelling the task: cancellation would cancel the request in flight.
        let stop = NIOLockedValueBox(false)
        let load = Task { () -> (sent: Int, failures: [String]) in
            var sent = 0
            var failures: [String] = []
            let deadline = Date().addingTimeInterval(60)
            while !stop.withLockedValue({ $0 }), sent < 5_000, Date() < deadline {
                do {
                    let code = try await status(kept.key, model: sent % 2 == 0 ? "chat-a" : "chat-b")
                    if code != 200 { failures.append("status \(code)") }
                } catch {
                    failures.append("\(error)")
                }
                sent += 1
            }
            return (sent, failures)
        }
        // The load must be in flight during the reload: wait for progress, not for time.
        func keptRecords() -> Int { server.log.lines("request").filter { $0.contains(#""key_name":"kept""#) }.count }
        let started = await Self.poll { keptRecords() >= 20 }
        XCTAssertTrue(started, server.log.tail())
        try #"{"keys": [\#(kept.entry)]}"#.write(to: keyFile, atomically: true, encoding: .utf8)
        try await server.waitForLine("reload done", containing: #""generation":"2""#)

        var revokedAfter: UInt = 0
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            revokedAfter = try await status(revoked.key, model: "chat-a")
            if revokedAfter == 401 { break }
        }
        XCTAssertEqual(revokedAfter, 401, "the revoked key no longer works after the reload")
        // Keep the load going a little past the switch, then stop it.
        let keptBefore = keptRecords()
        let continued = await Self.poll { keptRecords() >= keptBefore + 20 }
        XCTAssertTrue(continued, server.log.tail())
        stop.withLockedValue { $0 = true }
        let result = await load.value
        XCTAssertGreaterThan(result.sent, 40)
        XCTAssertEqual(result.failures, [], "requests with the kept key never fail across the reload")
        XCTAssertTrue(server.log.lines("request").contains { $0.contains(#""key_name":"revoked""#) })
        let log = server.log.text
        XCTAssertFalse(log.contains(kept.key) || log.contains(revoked.key), "keys are never logged")
        try Self.assertCompleteAccessRecord(server.log.lines("request").first { $0.contains(#""key_name":"kept""#) })
    }

    /// The worker's access record (written by the direct JSON path, not swift-log) is one JSON object with every
    /// field the README documents, numbers as strings.
    private static func assertCompleteAccessRecord(_ line: String?) throws {
        let line = try XCTUnwrap(line)
        let record = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], line)
        let expected = [
            "ts", "level", "msg", "label", "pid", "worker", "generation", "request_id", "client", "method", "route",
            "model", "key_name", "provider", "target_model", "upstream", "upstream_status", "status", "stream",
            "bytes_in", "bytes_out", "duration_ms", "ttfb_ms", "attempts",
        ]
        XCTAssertEqual(Set(record.keys), Set(expected), line)
        XCTAssertEqual(record["status"] as? String, "200", line)
        XCTAssertEqual(record["upstream_status"] as? String, "200", line)
        XCTAssertEqual(record["route"] as? String, "v1/chat/completions", line)
        XCTAssertEqual(record["method"] as? String, "POST", line)
        XCTAssertEqual(record["stream"] as? String, "false", line)
        XCTAssertNotNil(Double(record["duration_ms"] as? String ?? ""), line)
        XCTAssertNotNil(Int(record["bytes_out"] as? String ?? ""), line)
        XCTAssertTrue((record["client"] as? String ?? "").hasPrefix("127.0.0.1:"), line)
    }

    /// Polls `condition` every 10 ms until it holds or `seconds` pass.
    private static func poll(seconds: Double = 60, _ condition: () -> Bool) async -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition() { return true }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return condition()
    }

    /// One access record per request at `info` (the direct JSON path), none at `warning`.
    func testAccessRecordsFollowTheLogLevel() async throws {
        let upstream = try self.startUpstream()
        let directory = try self.temporaryDirectory()
        try self.writeModels(to: directory, upstream: upstream.baseURL)
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        self.addTeardownBlock { try await client.shutdown() }
        for level in ["info", "warning"] {
            // The port is the harness's: at `warning` the server does not log the address it listens on.
            let server = try FoapProcess(
                serveArguments: ["--workers", "0", "--config-dir", directory.path, "--log-level", level]
            )
            self.addTeardownBlock { await server.stop() }
            let port = server.port
            var status: UInt?
            let deadline = Date().addingTimeInterval(30)
            while status == nil, Date() < deadline {
                var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/v1/chat/completions")
                request.method = .POST
                request.headers.add(name: "Content-Type", value: "application/json")
                request.body = .bytes(ByteBuffer(string: #"{"model":"chat-a","messages":[]}"#))
                do {
                    let response = try await client.execute(request, timeout: .seconds(30))
                    _ = try await response.body.collect(upTo: 1 << 20)
                    status = response.status.code
                } catch {
                    try await Task.sleep(for: .milliseconds(20))  // not listening yet
                }
            }
            XCTAssertEqual(status, 200, server.log.tail())
            await server.terminate()
            XCTAssertEqual(server.log.lines("request").count, level == "info" ? 1 : 0, server.log.tail())
        }
    }

    func testKeylessModeWarnsAtEveryStart() async throws {
        let upstream = try self.startUpstream()
        let directory = try self.temporaryDirectory()
        try self.writeModels(to: directory, upstream: upstream.baseURL)
        for workers in ["2", "0"] {
            let server = try FoapProcess(serveArguments: ["--workers", workers, "--config-dir", directory.path])
            self.addTeardownBlock { await server.stop() }
            try await server.waitForLine(workers == "2" ? "listening" : "serving")
            try await server.waitForLine("keyless mode: the gateway is OPEN", containing: "FOAP_CLIENT_KEYS")
            if workers == "2" {
                try await server.waitForLine("starting workers", containing: "OPEN (no client keys)")
            }
            await server.stop()
        }
    }
}

extension URL {
    /// Creates the directory (and parents) and returns it.
    fileprivate func creatingDirectory() throws -> URL {
        try FileManager.default.createDirectory(at: self, withIntermediateDirectories: true)
        return self
    }
}
