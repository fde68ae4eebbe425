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
}
