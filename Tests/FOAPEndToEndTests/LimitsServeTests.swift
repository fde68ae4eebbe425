import AsyncHTTPClient
import Foundation
import NIOCore
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// Per-key limits through the real binary: exact across every worker of the master, slots given back when a
/// worker is killed, budgets kept across a master restart on the same `FOAP_STATE_DIR`.
final class LimitsServeTests: XCTestCase {
    static let key = "sk-foap-limits-e2e-0123456789"

    /// A key file whose one key has `limits`, and its path, in a fresh directory.
    private func keyFile(limits: String) throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("foap-limits-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        self.addTeardownBlock { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("keys.json")
        try #"{"keys":[{"name":"team","sha256":"\#(try ClientKeysServeTests.sha256Hex(Self.key))","models":["*"],"limits":\#(limits)}]}"#
            .write(to: file, atomically: true, encoding: .utf8)
        return file
    }

    private func startFoap(workers: Int, limits: String, stateDirectory: URL? = nil) async throws
        -> (FoapProcess, StreamingUpstream)
    {
        let upstream = try self.startUpstream()
        var environment: [String: String?] = ["FOAP_CLIENT_KEYS": try self.keyFile(limits: limits).path]
        environment["FOAP_STATE_DIR"] = stateDirectory?.path
        let foap = try await self.startFoap(
            workers: workers, files: ["models.json": EndToEndConfig.file(upstream: upstream.baseURL, models: ["chat"])],
            environment: environment)
        return (foap, upstream)
    }

    private static func chat(_ client: HTTPClient, _ baseURL: String, stream: Bool = false) async throws
        -> (status: UInt, body: String, response: HTTPClientResponse?)
    {
        var request = HTTPClientRequest(url: baseURL + "/v1/chat/completions")
        request.method = .POST
        request.headers.add(name: "Authorization", value: "Bearer \(Self.key)")
        if stream {
            request.headers.add(name: "x-mock-chunks", value: "1000")
            request.headers.add(name: "x-mock-interval-ms", value: "50")
        }
        request.body = .bytes(ByteBuffer(string: #"{"model":"chat","stream":\#(stream),"messages":[]}"#))
        let response = try await client.execute(request, timeout: .seconds(20))
        if stream && response.status == .ok {
            return (200, "", response)
        }
        let body = try await response.body.collect(upTo: 1 << 20)
        return (response.status.code, String(buffer: body), nil)
    }

    /// 200 requests over 32 connections against four workers: exactly the limit is answered, every other request
    /// gets the 429 — the limit is not multiplied by the worker count.
    func testARequestRateIsExactAcrossFourWorkers() async throws {
        let (foap, _) = try await self.startFoap(workers: 4, limits: #"{"requests_per_hour": 60}"#)
        let client = ProxyClient.makeHTTPClient(poolSize: 32)
        self.addTeardownBlock { try? await client.shutdown() }
        let statuses = try await withThrowingTaskGroup(of: [UInt].self) { group in
            for connection in 0..<32 {
                group.addTask {
                    var statuses: [UInt] = []
                    for _ in stride(from: connection, to: 200, by: 32) {
                        statuses.append(try await Self.chat(client, foap.baseURL).status)
                    }
                    return statuses
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
        XCTAssertEqual(statuses.count, 200)
        XCTAssertEqual(statuses.filter { $0 == 200 }.count, 60)
        XCTAssertEqual(statuses.filter { $0 == 429 }.count, 140)
        let served = Set(
            foap.log.lines("request").filter { $0.contains(#""status":"200""#) && $0.contains("chat/completions") }.compactMap { line -> Substring? in
                guard let start = line.range(of: #""pid":"#)?.upperBound else { return nil }
                return line[start...].prefix { $0.isNumber || $0 == "\"" }
            })
        XCTAssertGreaterThan(served.count, 1, "the requests were spread over several workers")
    }

    /// `foap ctl limits` reads the live shared state through the master: what each limited key used and has left.
    func testCtlLimitsShowsEachKeysUsage() async throws {
        let socket = self.controlSocketPath()
        let upstream = try self.startUpstream()
        let foap = try await self.startFoap(
            workers: 2, files: ["models.json": EndToEndConfig.file(upstream: upstream.baseURL, models: ["chat"])],
            environment: [
                "FOAP_CLIENT_KEYS": try self.keyFile(limits: #"{"requests_per_hour": 60, "tokens_per_day": 100000}"#).path,
                "FOAP_CONTROL_SOCKET": socket,
            ])
        let client = ProxyClient.makeHTTPClient(poolSize: 2)
        self.addTeardownBlock { try? await client.shutdown() }
        for _ in 0..<3 {
            let status = try await Self.chat(client, foap.baseURL).status
            XCTAssertEqual(status, 200)
        }
        // A reload replaces every worker; the counts live in the region the master keeps, so they continue.
        let reload = try runFoap(["ctl", "--socket", socket, "reload", "--wait"])
        XCTAssertEqual(reload.status, 0, reload.stderr)
        for _ in 0..<2 {
            let status = try await Self.chat(client, foap.baseURL).status
            XCTAssertEqual(status, 200)
        }
        let result = try runFoap(["ctl", "--socket", socket, "limits"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let lines = result.stdout.split(separator: "\n").map(String.init)
        let requests = try XCTUnwrap(lines.first { $0.contains("key team") && $0.contains("RPH") }, result.stdout)
        XCTAssertTrue(requests.contains("used 5 of 60, remaining 55"), requests)
        let budget = try XCTUnwrap(lines.first { $0.contains("key team") && $0.contains("tokens per day") }, result.stdout)
        XCTAssertTrue(budget.contains("of 100000") && budget.contains("resets at"), budget)
    }

    /// `kill -9` of the worker that holds both slots of `concurrent_requests: 2`: the master gives them back when
    /// it reaps the worker, so the key is not locked out by a crash.
    func testSlotsOfAKilledWorkerComeBackWhenTheMasterReapsIt() async throws {
        let (foap, _) = try await self.startFoap(workers: 1, limits: #"{"concurrent_requests": 2}"#)
        let client = ProxyClient.makeHTTPClient(poolSize: 4)
        self.addTeardownBlock { try? await client.shutdown() }
        let first = try await Self.chat(client, foap.baseURL, stream: true)
        let second = try await Self.chat(client, foap.baseURL, stream: true)
        XCTAssertEqual([first.status, second.status], [200, 200])
        let third = try await Self.chat(client, foap.baseURL)
        XCTAssertEqual(third.status, 429, third.body)
        let held = try await Self.inFlight(client, foap.baseURL)
        XCTAssertEqual(held, 2, "the master's gauge reads the shared region")
        let worker = try XCTUnwrap(foap.workerPID(slot: 0))
        kill(worker, SIGKILL)
        try await foap.waitFor("the slots given back") {
            !foap.log.records("gave back the limit slots of a worker that exited", where: ["slots": "2"]).isEmpty
        }
        try await foap.waitFor("a new worker serving") {
            (try? await Self.chat(client, foap.baseURL).status) == 200
        }
        let after = try await Self.inFlight(client, foap.baseURL)
        XCTAssertEqual(after, 0)
    }

    /// `foap_ratelimit_in_flight{scope="key team"}` from `/metrics` (a scrape needs a key when keys are configured).
    private static func inFlight(_ client: HTTPClient, _ baseURL: String) async throws -> Double? {
        var request = HTTPClientRequest(url: baseURL + "/metrics")
        request.headers.add(name: "Authorization", value: "Bearer \(Self.key)")
        let response = try await client.execute(request, timeout: .seconds(10))
        let text = String(buffer: try await response.body.collect(upTo: 1 << 22))
        let line = text.split(separator: "\n").first { $0.hasPrefix(#"foap_ratelimit_in_flight{scope="key team"}"#) }
        return line?.split(separator: " ").last.flatMap { Double($0) }
    }

    /// A day budget spent before a restart is still spent after it, when the state directory is kept.
    func testABudgetSurvivesAMasterRestartOnTheSameStateDirectory() async throws {
        let state = FileManager.default.temporaryDirectory.appendingPathComponent("foap-state-\(UUID())")
        try FileManager.default.createDirectory(at: state, withIntermediateDirectories: true)
        self.addTeardownBlock { try? FileManager.default.removeItem(at: state) }
        let limits = #"{"tokens_per_day": 100}"#
        let client = ProxyClient.makeHTTPClient(poolSize: 2)
        self.addTeardownBlock { try? await client.shutdown() }

        let (first, _) = try await self.startFoap(workers: 2, limits: limits, stateDirectory: state)
        let spent = try await Self.chat(client, first.baseURL)
        XCTAssertEqual(spent.status, 200, "the first request fits (it reserves what is left)")
        let refused = try await Self.chat(client, first.baseURL)
        XCTAssertEqual(refused.status, 429)
        XCTAssertTrue(refused.body.contains("insufficient_quota"), refused.body)
        await first.stop()

        let (second, _) = try await self.startFoap(workers: 2, limits: limits, stateDirectory: state)
        let after = try await Self.chat(client, second.baseURL)
        XCTAssertEqual(after.status, 429, "the day's budget was kept across the restart")
        XCTAssertTrue(after.body.contains("insufficient_quota"), after.body)
    }
}
