import Foundation
import XCTest

/// Builds config files for the mock upstream and starts foap for a test, with teardown registered.
enum EndToEndConfig {
    /// One provider named `provider` serving every id in `models` on `v1/chat/completions` from `upstream`.
    static func file(provider: String = "mock", upstream: String, models: [String]) -> String {
        let entries = models.map { id in
            #""\#(id)":{"endpoints":[{"path":"v1/chat/completions","target_model_name":"upstream-\#(id)"}]}"#
        }
        return #"{"\#(provider)":{"target_base_url":"\#(upstream)","request_timeout":30,"models":{"#
            + entries.joined(separator: ",") + "}}}"
    }

    /// Replaces a file the way editors and config tools do: a temp file in the same directory renamed over it.
    static func writeByRename(_ contents: String, to url: URL) throws {
        let temporary = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).tmp")
        try Data(contents.utf8).write(to: temporary)
        guard rename(temporary.path, url.path) == 0 else { throw POSIXError(.EIO) }
    }

    /// Overwrites a file in place (open with O_TRUNC, write, close), the way `cat > file` does.
    static func overwrite(_ contents: String, to url: URL) throws {
        let handle = try FileHandle(forWritingTo: url)
        try handle.truncate(atOffset: 0)
        try handle.write(contentsOf: Data(contents.utf8))
        try handle.close()
    }
}

extension XCTestCase {
    /// A fresh path for a master's control socket (`FOAP_CONTROL_SOCKET`), short enough for `sun_path`.
    func controlSocketPath() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("foap-ctl-\(UUID().uuidString).sock").path
    }

    /// Starts the mock upstream; stopped at teardown.
    func startUpstream() throws -> StreamingUpstream {
        let upstream = try StreamingUpstream()
        self.addTeardownBlock { try? upstream.stop() }
        return upstream
    }

    /// Starts `foap serve --workers N` with `files` and waits until every worker is ready and `/health` answers;
    /// stopped at teardown. (Failed waits print the log's tail.)
    func startFoap(
        workers: Int = 3,
        files: [String: String],
        environment: [String: String?] = [:]
    ) async throws -> FoapProcess {
        let foap = try FoapProcess(workers: workers, files: files, environment: environment)
        self.addTeardownBlock { await foap.stop() }
        try await foap.waitUntilServing(workers: workers)
        return foap
    }
}
