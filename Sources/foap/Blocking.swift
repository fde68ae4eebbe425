import Dispatch
import NIOConcurrencyHelpers

/// Runs async work from the synchronous command line and waits for it. The commands stay synchronous so the
/// master can block signals before any thread exists; only the proxy side needs async code.
func runBlocking(_ body: @escaping @Sendable () async throws -> Void) throws {
    let result = NIOLockedValueBox<Result<Void, Error>?>(nil)
    let semaphore = DispatchSemaphore(value: 0)
    Task {
        do {
            try await body()
            result.withLockedValue { $0 = .success(()) }
        } catch {
            result.withLockedValue { $0 = .failure(error) }
        }
        semaphore.signal()
    }
    semaphore.wait()
    try result.withLockedValue { $0 }?.get()
}
