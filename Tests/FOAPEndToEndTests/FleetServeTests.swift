import AsyncHTTPClient
import Foundation
import NIOCore
import RedisTestSupport
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// Fleet-wide limits through the real binary: three `foap serve` instances (hosts) of two workers each share one
/// real `redis-server`; their one limit is not multiplied by hosts or workers.
final class FleetServeTests: XCTestCase {
    static let key = "sk-foap-fleet-e2e-0123456789"

    func testThreeHostsSharingOneRedisAdmitExactlyTheLimit() async throws {
        let redis = try RedisServer()
        self.addTeardownBlock { redis.stop() }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("foap-fleet-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        self.addTeardownBlock { try? FileManager.default.removeItem(at: directory) }
        let keys = directory.appendingPathComponent("keys.json")
        try #"{"keys":[{"name":"team","sha256":"\#(try ClientKeysServeTests.sha256Hex(Self.key))","models":["*"],"limits":{"requests_per_hour": 60}}]}"#
            .write(to: keys, atomically: true, encoding: .utf8)
        let upstream = try self.startUpstream()
        var hosts: [FoapProcess] = []
        for _ in 0..<3 {
            hosts.append(try await self.startFoap(
                workers: 2, files: ["models.json": EndToEndConfig.file(upstream: upstream.baseURL, models: ["chat"])],
                environment: [
                    "FOAP_CLIENT_KEYS": keys.path, "FOAP_LIMITS_REDIS_URL": redis.urlString, "FOAP_FLEET_SIZE": "3",
                    "FOAP_LIMITS_REDIS_TIMEOUT_MS": "500",
                ]))
        }
        let baseURLs = hosts.map(\.baseURL)
        let client = ProxyClient.makeHTTPClient(poolSize: 24)
        self.addTeardownBlock { try? await client.shutdown() }
        let statuses = try await withThrowingTaskGroup(of: [UInt].self) { group in
            for connection in 0..<24 {
                group.addTask {
                    var statuses: [UInt] = []
                    for index in stride(from: connection, to: 200, by: 24) {
                        var request = HTTPClientRequest(url: baseURLs[index % 3] + "/v1/chat/completions")
                        request.method = .POST
                        request.headers.add(name: "Authorization", value: "Bearer \(Self.key)")
                        request.body = .bytes(ByteBuffer(string: #"{"model":"chat","messages":[]}"#))
                        let response = try await client.execute(request, timeout: .seconds(20))
                        _ = try await response.body.collect(upTo: 1 << 20)
                        statuses.append(response.status.code)
                    }
                    return statuses
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
        XCTAssertEqual(statuses.count, 200)
        XCTAssertEqual(statuses.filter { $0 == 200 }.count, 60, "not 3 × 60, nor the local share")
        XCTAssertEqual(statuses.filter { $0 == 429 }.count, 140)
    }

    /// `concurrent_requests: 4` across three hosts of two workers each: of 12 streams opened at once, spread over
    /// the hosts, exactly 4 are admitted (not 4 per host, nor the local share of 1 or 2).
    func testThreeHostsSharingOneRedisAdmitExactlyTheConcurrencyLimit() async throws {
        let redis = try RedisServer()
        self.addTeardownBlock { redis.stop() }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("foap-fleet-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        self.addTeardownBlock { try? FileManager.default.removeItem(at: directory) }
        let keys = directory.appendingPathComponent("keys.json")
        try #"{"keys":[{"name":"team","sha256":"\#(try ClientKeysServeTests.sha256Hex(Self.key))","models":["*"],"limits":{"concurrent_requests": 4}}]}"#
            .write(to: keys, atomically: true, encoding: .utf8)
        let upstream = try self.startUpstream()
        var hosts: [FoapProcess] = []
        for _ in 0..<3 {
            hosts.append(try await self.startFoap(
                workers: 2, files: ["models.json": EndToEndConfig.file(upstream: upstream.baseURL, models: ["chat"])],
                environment: [
                    "FOAP_CLIENT_KEYS": keys.path, "FOAP_LIMITS_REDIS_URL": redis.urlString, "FOAP_FLEET_SIZE": "3",
                    "FOAP_LIMITS_REDIS_TIMEOUT_MS": "500", "FOAP_LIMITS_ON_BACKEND_ERROR": "deny",
                ]))
        }
        let baseURLs = hosts.map(\.baseURL)
        let client = ProxyClient.makeHTTPClient(poolSize: 12)
        self.addTeardownBlock { try? await client.shutdown() }
        // Streams of 5 s: every one is still open when the last of the 12 is decided.
        let answers = try await withThrowingTaskGroup(of: (UInt, HTTPClientResponse).self) { group in
            for index in 0..<12 {
                group.addTask {
                    let response = try await client.execute(
                        Self.chat(baseURLs[index % 3], stream: true, chunks: 100), timeout: .seconds(30))
                    return (response.status.code, response)
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        let statuses = answers.map(\.0)
        XCTAssertEqual(statuses.filter { $0 == 200 }.count, 4, "\(statuses)")
        XCTAssertEqual(statuses.filter { $0 == 429 }.count, 8, "\(statuses)")
        withExtendedLifetime(answers) {}
    }

    /// `concurrent_requests: 2` held by two long streams of one host: its leases are renewed past their TTL while
    /// it lives; after `kill -9` of that host (master and workers) the other host gets the slots back once the
    /// leases expire, with no one giving them back.
    func testTheSlotsOfAKilledHostComeBackAfterTheLeaseTTL() async throws {
        let redis = try RedisServer()
        self.addTeardownBlock { redis.stop() }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("foap-fleet-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        self.addTeardownBlock { try? FileManager.default.removeItem(at: directory) }
        let keys = directory.appendingPathComponent("keys.json")
        try #"{"keys":[{"name":"team","sha256":"\#(try ClientKeysServeTests.sha256Hex(Self.key))","models":["*"],"limits":{"concurrent_requests": 2}}]}"#
            .write(to: keys, atomically: true, encoding: .utf8)
        let upstream = try self.startUpstream()
        var hosts: [FoapProcess] = []
        for _ in 0..<2 {
            hosts.append(try await self.startFoap(
                workers: 1, files: ["models.json": EndToEndConfig.file(upstream: upstream.baseURL, models: ["chat"])],
                environment: [
                    "FOAP_CLIENT_KEYS": keys.path, "FOAP_LIMITS_REDIS_URL": redis.urlString, "FOAP_FLEET_SIZE": "2",
                    "FOAP_LIMITS_REDIS_TIMEOUT_MS": "500", "FOAP_LIMITS_ON_BACKEND_ERROR": "deny",
                    "FOAP_LIMITS_LEASE_TTL_MS": "1500",
                ]))
        }
        let (dying, survivor) = (hosts[0], hosts[1])
        let client = ProxyClient.makeHTTPClient(poolSize: 4)
        self.addTeardownBlock { try? await client.shutdown() }
        // Two streams of 50 s each on the host that will die.
        var streams: [HTTPClientResponse] = []
        for _ in 0..<2 {
            let response = try await client.execute(Self.chat(dying.baseURL, stream: true), timeout: .seconds(60))
            XCTAssertEqual(response.status, .ok)
            streams.append(response)
        }
        try await Task.sleep(for: .seconds(3))
        let held = try await Self.status(client, survivor.baseURL)
        XCTAssertEqual(held, 429, "two TTLs later the streams' renewed leases still hold both slots")

        let workers = (0..<1).compactMap { dying.workerPID(slot: $0) }
        XCTAssertEqual(workers.count, 1)
        dying.signal(SIGKILL)
        for worker in workers where ProcessProbe.isFoapWorker(worker) {
            kill(worker, SIGKILL)
        }
        try await survivor.waitFor("the dead host's slots back after the lease TTL", timeout: .seconds(20)) {
            try await Self.status(client, survivor.baseURL) == 200
        }
        withExtendedLifetime(streams) {}
    }

    private static func chat(_ baseURL: String, stream: Bool = false, chunks: Int = 1000) -> HTTPClientRequest {
        var request = HTTPClientRequest(url: baseURL + "/v1/chat/completions")
        request.method = .POST
        request.headers.add(name: "Authorization", value: "Bearer \(Self.key)")
        if stream {
            request.headers.add(name: "x-mock-chunks", value: String(chunks))
            request.headers.add(name: "x-mock-interval-ms", value: "50")
        }
        request.body = .bytes(ByteBuffer(string: #"{"model":"chat","stream":\#(stream),"messages":[]}"#))
        return request
    }

    private static func status(_ client: HTTPClient, _ baseURL: String) async throws -> UInt {
        let response = try await client.execute(Self.chat(baseURL), timeout: .seconds(20))
        _ = try await response.body.collect(upTo: 1 << 20)
        return response.status.code
    }
}
