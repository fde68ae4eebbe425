import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// The requests the end-to-end tests send to foap, over AsyncHTTPClient.
///
/// `fresh` requests carry `Connection: close`, so every one of them opens its own TCP connection: that is how a test
/// reaches whichever worker the kernel picks for a new connection. `keepAlive` requests share a pool of persistent
/// connections, the way SDK clients talk to a gateway.
struct ProxyClient: Sendable {
    /// One client for the fresh-connection helpers; AHC's pool is only ever used for one request per connection.
    static let shared = ProxyClient(client: ProxyClient.makeHTTPClient(poolSize: 64))
    /// Streams keep their connection alive afterwards, so they get their own pool: an idle connection to an old
    /// worker in `shared`'s pool would be reused by the next "fresh" request.
    static let streams = ProxyClient(client: ProxyClient.makeHTTPClient(poolSize: 4))

    let client: HTTPClient

    /// An AHC client with its own connection pool of up to `poolSize` connections to foap.
    static func makeHTTPClient(poolSize: Int) -> HTTPClient {
        var configuration = HTTPClient.Configuration(redirectConfiguration: .disallow, decompression: .disabled)
        configuration.httpVersion = .http1Only
        configuration.connectionPool = .init(
            idleTimeout: .seconds(30),
            concurrentHTTP1ConnectionsPerHostSoftLimit: poolSize
        )
        configuration.timeout = .init(connect: .seconds(5), read: .seconds(15))
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    /// `GET /health` on a fresh connection; true on a 200.
    func health(_ baseURL: String) async throws -> Bool {
        let request = Self.request(baseURL + "/health", fresh: true)
        let response = try await self.client.execute(request, timeout: .seconds(5))
        _ = try await response.body.collect(upTo: 1 << 20)
        return response.status == .ok
    }

    /// `GET /v1/models` on a fresh connection: the model ids, in order. Throws on any other status.
    func modelIDs(_ baseURL: String) async throws -> [String] {
        let response = try await self.client.execute(
            Self.request(baseURL + "/v1/models", fresh: true),
            timeout: .seconds(10)
        )
        let body = try await response.body.collect(upTo: 1 << 20)
        guard response.status == .ok,
            let object = try JSONSerialization.jsonObject(with: Data(String(buffer: body).utf8)) as? [String: Any],
            let data = object["data"] as? [[String: Any]]
        else {
            throw UnexpectedResponse(status: response.status.code, body: String(buffer: body))
        }
        return data.compactMap { $0["id"] as? String }
    }

    /// One non-streaming chat completion for model `chat`. Throws unless the answer is the upstream's 200.
    func chat(_ baseURL: String, fresh: Bool) async throws {
        var request = Self.request(baseURL + "/v1/chat/completions", fresh: fresh)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(string: #"{"model":"chat","messages":[{"role":"user","content":"hi"}]}"#))
        let response = try await self.client.execute(request, timeout: .seconds(20))
        let body = try await response.body.collect(upTo: 1 << 20)
        guard response.status == .ok, String(buffer: body).contains("chat.completion") else {
            throw UnexpectedResponse(status: response.status.code, body: String(buffer: body))
        }
    }

    /// Starts a streaming chat completion of `chunks` events `intervalMS` apart; returns once the response head
    /// arrived, with the body still streaming.
    func startStream(_ baseURL: String, chunks: Int, intervalMS: Int) async throws -> HTTPClientResponse {
        var request = Self.request(baseURL + "/v1/chat/completions", fresh: false)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "x-mock-chunks", value: String(chunks))
        request.headers.add(name: "x-mock-interval-ms", value: String(intervalMS))
        request.body = .bytes(ByteBuffer(string: #"{"model":"chat","stream":true,"messages":[]}"#))
        let response = try await self.client.execute(request, timeout: .seconds(60))
        guard response.status == .ok else {
            throw UnexpectedResponse(status: response.status.code, body: "")
        }
        return response
    }

    static func request(_ url: String, fresh: Bool) -> HTTPClientRequest {
        var request = HTTPClientRequest(url: url)
        if fresh {
            request.headers.add(name: "Connection", value: "close")
        }
        return request
    }
}

/// foap answered, but not what the test expected.
struct UnexpectedResponse: Error, CustomStringConvertible {
    let status: UInt
    let body: String
    var description: String { "HTTP \(self.status): \(self.body.prefix(300))" }
}
