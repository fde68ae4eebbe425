import Foundation
import XCTest

/// A pooled model through the real master and workers: failover in every worker, and across a reload.
final class PoolServeTests: XCTestCase {
    static func poolFile(upstream: String, models: [String]) -> String {
        let entries = models.map { id in
            #""\#(id)":{"endpoints":[{"path":"v1/chat/completions","target_model_name":"upstream-\#(id)"}]}"#
        }
        // A dead upstream first: with `ordered`, every request meets it first and must fail over.
        return #"{"fleet":{"strategy":"ordered","max_fails":100,"request_timeout":30,"#
            + #""upstreams":[{"target_base_url":"http://127.0.0.1:9"},{"target_base_url":"\#(upstream)"}],"#
            + #""models":{"# + entries.joined(separator: ",") + "}}}"
    }

    func testEveryWorkerFailsOverBeforeAndAfterAReload() async throws {
        let upstream = try self.startUpstream()
        let socketPath = self.controlSocketPath()
        let foap = try await self.startFoap(
            workers: 2,
            files: ["fleet.json": Self.poolFile(upstream: upstream.baseURL, models: ["chat"])],
            environment: ["FOAP_CONTROL_SOCKET": socketPath]
        )
        for _ in 0..<10 {
            try await ProxyClient.shared.chat(foap.baseURL, fresh: true)
        }
        try EndToEndConfig.writeByRename(
            Self.poolFile(upstream: upstream.baseURL, models: ["chat", "added"]),
            to: foap.configFile("fleet.json")
        )
        let reload = try runFoap(["ctl", "--socket", socketPath, "reload", "--wait"])
        XCTAssertEqual(reload.status, 0, reload.stderr)
        for _ in 0..<10 {
            try await ProxyClient.shared.chat(foap.baseURL, fresh: true)
        }
        let chats = { foap.log.accessRecords(route: "v1/chat/completions").map { $0.mapValues { "\($0)" } } }
        try await foap.waitFor("20 chat access records") { chats().count >= 20 }
        let records = chats()
        XCTAssertEqual(records.count, 20)
        XCTAssertTrue(records.allSatisfy { $0["attempts"] == "2" && $0["status"] == "200" }, "\(records)")
        XCTAssertTrue(records.allSatisfy { $0["attempt_errors"] == "http://127.0.0.1:9 upstream_unreachable" })
        XCTAssertEqual(Set(records.compactMap { $0["generation"] }).count, 2, "served before and after the reload")
    }
}
