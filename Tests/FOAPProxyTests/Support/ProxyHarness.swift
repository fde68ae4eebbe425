import AsyncHTTPClient
import FOAPConfig
import FOAPLimits
import FOAPProxy
import Foundation
import InMemoryLogging
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import XCTest

/// A real proxy server on 127.0.0.1 (ephemeral port) in front of a `MockUpstream`, with a real HTTP client.
/// The config goes through the real loader from a temporary directory.
// @unchecked: tests hand it to teardown blocks; its members are thread-safe NIO/AHC objects or immutable.
final class ProxyHarness: @unchecked Sendable {
    let upstream: MockUpstream
    let group: MultiThreadedEventLoopGroup
    let engine: ProxyEngine
    let server: ProxyServer
    let client: HTTPClient
    let port: Int
    let configDirectory: URL
    /// Everything the proxy logged (access records at `info`, failures at `warning`/`error`).
    let logs = InMemoryLogHandler()
    var baseURL: String { "http://127.0.0.1:\(self.port)" }

    /// - Parameters:
    ///   - config: the config file's JSON, given the upstream's base URL.
    ///   - environment: what the loader sees (API key variables).
    ///   - tls: run the upstream over HTTPS with the test CA (trusted through `caBundlePath`).
    init(
        tls: Bool = false,
        config: (String) -> String = ProxyHarness.defaultConfig,
        environment: [String: String] = ["MOCK_KEY": "sk-upstream-secret"],
        configure: (inout ProxyConfiguration) -> Void = { _ in },
        metricsSource: MetricsSource? = nil,
        limitsRegion: LimitsRegion? = nil,
        respond: @escaping @Sendable (MockUpstream.Request) -> MockUpstream.Response
    ) async throws {
        self.upstream = try MockUpstream(tls: tls, respond: respond)
        self.configDirectory = FileManager.default.temporaryDirectory
            .appendingPathComponent("foap-proxy-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: self.configDirectory, withIntermediateDirectories: true)
        try config(self.upstream.baseURL).write(
            to: self.configDirectory.appendingPathComponent("mock.json"),
            atomically: true,
            encoding: .utf8
        )
        let snapshot = try ConfigLoader(directory: self.configDirectory.path, environment: environment).load()
        var configuration = ProxyConfiguration()
        configuration.baseURL = "http://gateway.test:8000"
        if tls {
            configuration.upstream.caBundlePath = MockUpstream.fixtures.appendingPathComponent("ca.pem").path
        }
        configure(&configuration)
        self.group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let logs = self.logs
        var logger = Logger(label: "foap-test") { _ in logs }
        logger.logLevel = .info
        self.engine = try ProxyEngine(
            snapshot: snapshot, configuration: configuration, eventLoopGroup: self.group, logger: logger,
            metricsSource: metricsSource,
            limiter: try limitsRegion.flatMap { region in
                // With a fleet backend the region holds this host's share (the `local` fallback), as a worker's does.
                try snapshot.clientKeys.map { keys in
                    let share = configuration.limits.fleet.map { FleetShare.keys(keys, fleetSize: $0.fleetSize) }
                    return try RateLimiter(region: region, holder: 0, keys: share ?? keys)
                }
            })
        self.server = ProxyServer(engine: self.engine, group: self.group)
        let addresses = try await self.server.start(.bind(host: "127.0.0.1", port: 0))
        self.port = addresses[0].port!
        var clientConfiguration = HTTPClient.Configuration(redirectConfiguration: .disallow, decompression: .disabled)
        clientConfiguration.httpVersion = .http1Only
        self.client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: clientConfiguration)
    }

    func stop() async throws {
        try await self.client.shutdown()
        await self.server.drain()
        try await self.engine.shutdown()
        try await self.group.shutdownGracefully()
        try self.upstream.stop()
        try? FileManager.default.removeItem(at: self.configDirectory)
    }

    /// Sends a request and collects the whole answer.
    func send(
        _ method: HTTPMethod = .POST,
        _ path: String,
        json: String? = nil,
        body: ByteBuffer? = nil,
        headers: [(String, String)] = []
    ) async throws -> (status: UInt, headers: HTTPHeaders, body: String, bytes: ByteBuffer) {
        var request = HTTPClientRequest(url: self.baseURL + path)
        request.method = method
        if let json {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: json))
        } else if let body {
            request.body = .bytes(body)
        }
        for (name, value) in headers {
            request.headers.add(name: name, value: value)
        }
        let response = try await self.client.execute(request, timeout: .seconds(30))
        let collected = try await response.body.collect(upTo: 64 * 1024 * 1024)
        return (response.status.code, response.headers, String(buffer: collected), collected)
    }

    /// Starts a streaming chat completion for `model` and reads it until the proxy cuts it.
    /// - Returns: the status and the bytes that arrived; `cut` is false if the stream ended normally (which a cut
    ///   upstream stream must never look like to the client).
    func streamUntilCut(model: String) async throws -> (status: UInt, received: String, cut: Bool) {
        var request = HTTPClientRequest(url: self.baseURL + "/v1/chat/completions")
        request.method = .POST
        request.body = .bytes(ByteBuffer(string: #"{"model":"\#(model)","stream":true}"#))
        let response = try await self.client.execute(request, timeout: .seconds(30))
        var received: [UInt8] = []
        do {
            for try await chunk in response.body {
                received += chunk.readableBytesView
            }
            return (response.status.code, String(decoding: received, as: UTF8.self), false)
        } catch {
            return (response.status.code, String(decoding: received, as: UTF8.self), true)
        }
    }

    /// The log entries whose message is `message`.
    func logEntries(_ message: String) -> [InMemoryLogHandler.Entry] {
        self.logs.entries.filter { $0.message.description == message }
    }

    /// Access records (one per finished request), oldest first.
    var accessRecords: [Logger.Metadata] {
        self.logEntries("request").map(\.metadata)
    }

    /// Waits (bounded) until at least `count` access records were written; returns all, values as text.
    func accessRecords(atLeast count: Int, within seconds: Double = 10) async throws -> [[String: String]] {
        let deadline = Date().addingTimeInterval(seconds)
        while self.accessRecords.count < count, Date() < deadline {
            try await Task.sleep(nanoseconds: 2_000_000)
        }
        return self.accessRecords.map { $0.mapValues(\.description) }
    }

    static func defaultConfig(_ base: String) -> String {
        """
        {
          "mock": {
            "api_key_variable": "MOCK_KEY",
            "prefix": "",
            "target_base_url": "\(base)",
            "request_timeout": 5,
            "health_timeout": 2,
            "models": {
              "gpt-test": {
                "endpoints": [
                  { "path": "v1/chat/completions", "target_model_name": "upstream-chat" },
                  { "path": "v1/completions", "target_model_name": "upstream-completions" },
                  { "path": "v1/embeddings", "target_model_name": "upstream-embed" },
                  { "path": "v1/moderations", "target_model_name": "upstream-mod" },
                  { "path": "v1/responses", "target_model_name": "upstream-responses" }
                ]
              },
              "meta-llama/Llama-3.1-8B": {
                "endpoints": [{ "path": "v1/chat/completions", "target_model_name": "llama" }]
              },
              "audio-test": {
                "endpoints": [
                  { "path": "v1/audio/speech", "target_model_name": "tts-up" },
                  { "path": "v1/audio/transcriptions", "target_model_name": "whisper-up" },
                  { "path": "v1/audio/translations", "target_model_name": "whisper-up" }
                ]
              },
              "image-test": {
                "endpoints": [
                  { "path": "v1/images/generations", "target_model_name": "img-up" },
                  { "path": "v1/images/edits", "target_model_name": "img-up" },
                  { "path": "v1/images/variations", "target_model_name": "img-up" },
                  { "path": "v1/images/data", "target_model_name": "img-up" }
                ]
              },
              "slow-test": {
                "endpoints": [{ "path": "v1/chat/completions", "target_model_name": "slow",
                                "request_timeout": 0.3 }]
              }
            }
          }
        }
        """
    }
}

/// Polls `condition` until it holds or `seconds` pass (for effects in another process or loop, never for timing).
func eventually(within seconds: Double = 10, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if try condition() { return true }
        usleep(10_000)
    }
    return try condition()
}
