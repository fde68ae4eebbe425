import AsyncHTTPClient
import FOAPConfig
import FOAPProxy
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import XCTest

/// Client API keys end to end: a real proxy with a key file, a real client, a mock upstream.
final class ClientKeysEndToEndTests: XCTestCase {
    static let teamKey = "sk-foap-team-a-0123456789"
    static let audioKey = "sk-foap-audio-9876543210"
    static let expiredKey = "sk-foap-expired-5555555555"

    /// team-a: gpt-* and meta-llama/*; audio: only audio-test; expired: everything, but past its date.
    static func keyFile() -> String {
        func hash(_ key: String) -> String { ClientKeyDigest(hashing: key.utf8).hex }
        return """
            {"keys": [
              {"name": "team-a", "sha256": "\(hash(Self.teamKey))", "models": ["gpt-*", "meta-llama/*"]},
              {"name": "audio", "sha256": "\(hash(Self.audioKey))", "models": ["audio-test"], "expires": "2999-12-31"},
              {"name": "expired", "sha256": "\(hash(Self.expiredKey))", "models": ["*"], "expires": "2001-01-01"}
            ]}
            """
    }

    private func makeHarness() async throws -> ProxyHarness {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("foap-keys-\(UUID().uuidString).json")
        try Self.keyFile().write(to: file, atomically: true, encoding: .utf8)
        let harness = try await ProxyHarness(
            environment: ["MOCK_KEY": "sk-upstream-secret", "FOAP_CLIENT_KEYS": file.path]
        ) { _ in .json(#"{"ok":true}"#) }
        self.addTeardownBlock {
            try await harness.stop()
            try? FileManager.default.removeItem(at: file)
        }
        return harness
    }

    private static func bearer(_ key: String) -> [(String, String)] {
        [("Authorization", "Bearer \(key)")]
    }

    private static func errorCode(_ body: String) -> String? {
        let object = try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any]
        return (object?["error"] as? [String: Any])?["code"] as? String
    }

    private static func modelIDs(_ body: String) -> [String] {
        let object = try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any]
        return (object?["data"] as? [[String: Any]])?.compactMap { $0["id"] as? String } ?? []
    }

    func testMissingOrWrongKeyIs401AndNothingReachesTheUpstream() async throws {
        let harness = try await self.makeHarness()
        let chat = #"{"model":"gpt-test","messages":[]}"#
        let cases: [(String, [(String, String)], String)] = [
            ("no key", [], "You didn't provide an API key"),
            ("wrong key", Self.bearer("sk-foap-wrong"), "Incorrect API key provided."),
            ("empty bearer", [("Authorization", "Bearer ")], "You didn't provide an API key"),
            ("basic auth", [("Authorization", "Basic dXNlcjpwYXNz")], "You didn't provide an API key"),
            ("wrong api-key", [("api-key", "sk-foap-team-a-012345678")], "Incorrect API key provided."),
        ]
        for (label, headers, message) in cases {
            let response = try await harness.send(.POST, "/v1/chat/completions", json: chat, headers: headers)
            XCTAssertEqual(response.status, 401, label)
            XCTAssertEqual(Self.errorCode(response.body), "invalid_api_key", label)
            XCTAssertTrue(response.body.contains(message), "\(label): \(response.body)")
            XCTAssertEqual(response.headers.first(name: "www-authenticate"), "Bearer", label)
            XCTAssertFalse(response.body.contains("sk-foap"), "the key is never echoed")
        }
        for path in ["/v1/models", "/v1/models/gpt-test", "/health/gpt-test"] {
            let response = try await harness.send(.GET, path)
            XCTAssertEqual(response.status, 401, path)
        }
        XCTAssertEqual(harness.upstream.requests.count, 0)
        // The connection stays usable after a 401: the next request on it is served.
        let next = try await harness.send(.POST, "/v1/chat/completions", json: chat, headers: Self.bearer(Self.teamKey))
        XCTAssertEqual(next.status, 200)
    }

    func testBearerAndAzureApiKeyHeadersAreAccepted() async throws {
        let harness = try await self.makeHarness()
        let chat = #"{"model":"gpt-test","messages":[]}"#
        for headers in [
            Self.bearer(Self.teamKey), [("Authorization", "bearer  \(Self.teamKey) ")], [("api-key", Self.teamKey)],
        ] {
            let response = try await harness.send(.POST, "/v1/chat/completions", json: chat, headers: headers)
            XCTAssertEqual(response.status, 200, "\(headers)")
        }
        let speech = try await harness.send(
            .POST,
            "/v1/audio/speech",
            json: #"{"model":"audio-test","input":"hi"}"#,
            headers: [("api-key", Self.audioKey)]
        )
        XCTAssertEqual(speech.status, 200)
    }

    func testClientKeyIsNeverForwardedUpstream() async throws {
        let harness = try await self.makeHarness()
        let response = try await harness.send(
            .POST,
            "/v1/chat/completions",
            json: #"{"model":"gpt-test"}"#,
            headers: Self.bearer(Self.teamKey) + [("api-key", Self.teamKey)]
        )
        XCTAssertEqual(response.status, 200)
        let upstream = try XCTUnwrap(harness.upstream.requests.last)
        XCTAssertEqual(upstream.headers["authorization"], ["Bearer sk-upstream-secret"])
        XCTAssertEqual(upstream.headers["api-key"], [])
        XCTAssertFalse("\(upstream.headers)".contains("sk-foap"))
    }

    func testModelsOutsideTheKeysListAre404LikeUnknownModels() async throws {
        let harness = try await self.makeHarness()
        let disallowed = try await harness.send(
            .POST, "/v1/audio/speech", json: #"{"model":"audio-test","input":"x"}"#, headers: Self.bearer(Self.teamKey)
        )
        let unknown = try await harness.send(
            .POST, "/v1/audio/speech", json: #"{"model":"audio-tesx","input":"x"}"#, headers: Self.bearer(Self.teamKey)
        )
        XCTAssertEqual(disallowed.status, 404)
        XCTAssertEqual(Self.errorCode(disallowed.body), "model_not_found")
        XCTAssertEqual(
            disallowed.body.replacingOccurrences(of: "audio-test", with: "ID"),
            unknown.body.replacingOccurrences(of: "audio-tesx", with: "ID"),
            "a forbidden model is indistinguishable from an unknown one"
        )
        let llama = try await harness.send(
            .POST,
            "/v1/chat/completions",
            json: #"{"model":"meta-llama/Llama-3.1-8B"}"#,
            headers: Self.bearer(Self.teamKey)
        )
        XCTAssertEqual(llama.status, 200, "a glob across /")
        let chatWithAudioKey = try await harness.send(
            .POST, "/v1/chat/completions", json: #"{"model":"gpt-test"}"#, headers: [("api-key", Self.audioKey)]
        )
        XCTAssertEqual(chatWithAudioKey.status, 404)
        XCTAssertEqual(harness.upstream.requests.map(\.uri), ["/v1/chat/completions"])
    }

    func testModelListAndRetrieveShowOnlyTheKeysModels() async throws {
        let harness = try await self.makeHarness()
        let team = try await harness.send(.GET, "/v1/models", headers: Self.bearer(Self.teamKey))
        XCTAssertEqual(team.status, 200)
        XCTAssertEqual(Self.modelIDs(team.body), ["gpt-test", "meta-llama/Llama-3.1-8B"])
        let audio = try await harness.send(.GET, "/v1/models", headers: [("api-key", Self.audioKey)])
        XCTAssertEqual(Self.modelIDs(audio.body), ["audio-test"])

        let escaped = "/v1/models/meta-llama%2FLlama-3.1-8B"
        let allowed = try await harness.send(.GET, escaped, headers: Self.bearer(Self.teamKey))
        XCTAssertEqual(allowed.status, 200)
        let hidden = try await harness.send(.GET, "/v1/models/audio-test", headers: Self.bearer(Self.teamKey))
        XCTAssertEqual(hidden.status, 404)
        XCTAssertEqual(Self.errorCode(hidden.body), "model_not_found")
    }

    func testHealthIsOpenAndModelHealthNeedsAKeyForTheModel() async throws {
        let harness = try await self.makeHarness()
        let open = try await harness.send(.GET, "/health")
        XCTAssertEqual(open.status, 200)
        let allowed = try await harness.send(.GET, "/health/gpt-test", headers: Self.bearer(Self.teamKey))
        XCTAssertEqual(allowed.status, 200, allowed.body)
        let forbidden = try await harness.send(.GET, "/health/audio-test", headers: Self.bearer(Self.teamKey))
        XCTAssertEqual(forbidden.status, 404)
        XCTAssertEqual(Self.errorCode(forbidden.body), "model_not_found")
        XCTAssertEqual(harness.upstream.requests.map(\.uri), ["/v1/models"], "only the allowed probe went out")
    }

    func testExpiredKeyIs401SayingExpired() async throws {
        let harness = try await self.makeHarness()
        let response = try await harness.send(.GET, "/v1/models", headers: Self.bearer(Self.expiredKey))
        XCTAssertEqual(response.status, 401)
        XCTAssertEqual(Self.errorCode(response.body), "invalid_api_key")
        XCTAssertTrue(response.body.contains("expired on 2001-01-01"), response.body)
    }

    func testAccessRecordsCarryTheKeyNameNeverTheKey() async throws {
        let records = CapturedRecords()
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("foap-keys-\(UUID().uuidString).json")
        try Self.keyFile().write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("foap-keys-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try ProxyHarness.defaultConfig("http://127.0.0.1:9")
            .write(to: directory.appendingPathComponent("mock.json"), atomically: true, encoding: .utf8)
        let snapshot = try ConfigLoader(directory: directory.path, environment: ["FOAP_CLIENT_KEYS": file.path]).load()

        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let logger = Logger(label: "foap-test") { _ in CapturingLogHandler(records: records) }
        let engine = try ProxyEngine(
            snapshot: snapshot,
            configuration: ProxyConfiguration(),
            eventLoopGroup: group,
            logger: logger
        )
        let server = ProxyServer(engine: engine, group: group)
        let port = try await server.start(.bind(host: "127.0.0.1", port: 0))[0].port!
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        for headers in [Self.bearer(Self.teamKey), [("Authorization", "Bearer sk-foap-wrong")]] {
            var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/v1/models")
            request.headers.add(contentsOf: headers)
            let response = try await client.execute(request, timeout: .seconds(30))
            _ = try await response.body.collect(upTo: 1 << 20)
        }
        try await client.shutdown()
        await server.drain()
        try await engine.shutdown()
        try await group.shutdownGracefully()

        let access = records.all.filter { $0.message == "request" }
        XCTAssertEqual(access.map { $0.metadata["key_name"]?.description }, ["team-a", nil])
        XCTAssertEqual(access.map { $0.metadata["status"]?.description }, ["200", "401"])
        XCTAssertEqual(access.last?.metadata["error"]?.description, "invalid_api_key")
        XCTAssertFalse(records.all.contains { "\($0.metadata)".contains("sk-foap") }, "keys are never logged")
    }
}

/// Log records kept in memory, for assertions on the access log.
final class CapturedRecords: Sendable {
    struct Record: Sendable {
        var message: String
        var metadata: Logger.Metadata
    }

    private let records = NIOLockedValueBox<[Record]>([])

    var all: [Record] { self.records.withLockedValue { $0 } }

    func append(_ record: Record) {
        self.records.withLockedValue { $0.append(record) }
    }
}

/// A LogHandler that appends every record to a ``CapturedRecords``.
struct CapturingLogHandler: LogHandler {
    let records: CapturedRecords
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { self.metadata[key] }
        set { self.metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var merged = self.metadata
        merged.merge(event.metadata ?? [:]) { _, new in new }
        self.records.append(.init(message: event.message.description, metadata: merged))
    }
}
