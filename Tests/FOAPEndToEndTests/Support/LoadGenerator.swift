import AsyncHTTPClient
import Foundation
import NIOConcurrencyHelpers

/// Continuous chat traffic against foap while a test reloads, kills or stops things: `keepAliveClients` clients
/// sending one request after another over their own AHC pool, plus `freshLoops` loops opening a new connection
/// per request. Bounded in count and time; every failure (connection error, reset, timeout, non-2xx) is kept.
final class LoadGenerator: Sendable {
    struct Failure: Sendable, CustomStringConvertible {
        let client: String
        let startedAt: ContinuousClock.Instant
        let error: String
        var description: String { "\(self.client): \(self.error)" }
    }

    struct Report: Sendable {
        var successes: Int
        var failures: [Failure]
        var summary: String {
            "\(self.successes) ok, \(self.failures.count) failed"
                + self.failures.prefix(10).map { "\n  - \($0)" }.joined()
        }
    }

    /// Upper bound on requests per client, so a test that forgets to stop cannot run away.
    static let maxRequestsPerClient = 20_000

    private let baseURL: String
    private let keepAliveClient: ProxyClient
    private let stopped = NIOLockedValueBox(false)
    private let results = NIOLockedValueBox(Report(successes: 0, failures: []))
    private let task: NIOLockedValueBox<Task<Void, Never>?> = NIOLockedValueBox(nil)

    /// - Parameters:
    ///   - pauseMS: pause between two requests of one client: keeps 2 shared cores free enough for reloads.
    ///   - maxDuration: the load stops by itself after this.
    init(
        baseURL: String,
        keepAliveClients: Int,
        freshLoops: Int,
        pauseMS: Int = 5,
        maxDuration: Duration = .seconds(60)
    ) {
        self.baseURL = baseURL
        self.keepAliveClient = ProxyClient(client: ProxyClient.makeHTTPClient(poolSize: keepAliveClients))
        let deadline = ContinuousClock.now + maxDuration
        let task = Task { [self] in
            await withTaskGroup(of: Void.self) { group in
                for index in 0..<keepAliveClients {
                    group.addTask { await self.loop(name: "keep-alive #\(index)", fresh: false, pauseMS, deadline) }
                }
                for index in 0..<freshLoops {
                    group.addTask { await self.loop(name: "fresh #\(index)", fresh: true, pauseMS, deadline) }
                }
            }
        }
        self.task.withLockedValue { $0 = task }
    }

    /// Everything so far, without stopping.
    var report: Report { self.results.withLockedValue { $0 } }

    /// Stops the clients after their current request and returns what happened.
    func stop() async -> Report {
        self.stopped.withLockedValue { $0 = true }
        await self.task.withLockedValue { $0 }?.value
        try? await self.keepAliveClient.client.shutdown()
        return self.report
    }

    private func loop(name: String, fresh: Bool, _ pauseMS: Int, _ deadline: ContinuousClock.Instant) async {
        let client = fresh ? ProxyClient.shared : self.keepAliveClient
        for _ in 0..<Self.maxRequestsPerClient {
            guard !self.stopped.withLockedValue({ $0 }), ContinuousClock.now < deadline else {
                return
            }
            let startedAt = ContinuousClock.now
            do {
                try await client.chat(self.baseURL, fresh: fresh)
                self.results.withLockedValue { $0.successes += 1 }
            } catch {
                let failure = Failure(client: name, startedAt: startedAt, error: String(reflecting: error))
                self.results.withLockedValue { $0.failures.append(failure) }
            }
            try? await Task.sleep(for: .milliseconds(pauseMS))
        }
    }
}

/// Reads a streaming response in the background, keeping each chunk with the moment it arrived.
final class StreamRecorder: Sendable {
    private let state = NIOLockedValueBox<(chunks: [(ContinuousClock.Instant, String)], error: String?)>(([], nil))
    private let task: Task<Void, Never>

    init(_ response: HTTPClientResponse) {
        let state = self.state
        self.task = Task {
            do {
                for try await buffer in response.body {
                    let chunk = (ContinuousClock.now, String(buffer: buffer))
                    state.withLockedValue { $0.chunks.append(chunk) }
                }
            } catch {
                state.withLockedValue { $0.error = String(reflecting: error) }
            }
        }
    }

    var receivedBytes: Int { self.state.withLockedValue { $0.chunks.reduce(0) { $0 + $1.1.utf8.count } } }

    /// Waits for the end of the body; returns the whole text, when the last chunk came, and the error if it broke.
    func finish() async -> (text: String, lastChunkAt: ContinuousClock.Instant?, error: String?) {
        await self.task.value
        return self.state.withLockedValue { state in
            (state.chunks.map(\.1).joined(), state.chunks.last?.0, state.error)
        }
    }
}
