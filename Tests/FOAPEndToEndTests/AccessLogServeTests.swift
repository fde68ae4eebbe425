import Foundation
import XCTest

/// The access log of a real worker under concurrent load: records of one event-loop iteration are written
/// together, and none is lost, cut or merged with another.
final class AccessLogServeTests: XCTestCase {
    func testEveryRequestOfABurstHasOneWholeRecord() async throws {
        let upstream = try self.startUpstream()
        let foap = try await self.startFoap(
            workers: 1, files: ["models.json": EndToEndConfig.file(upstream: upstream.baseURL, models: ["chat"])])
        let clients = 16
        let requestsPerClient = 25
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<clients {
                group.addTask {
                    for _ in 0..<requestsPerClient {
                        try await ProxyClient.shared.chat(foap.baseURL, fresh: false)
                    }
                }
            }
            try await group.waitForAll()
        }
        let expected = clients * requestsPerClient
        let records = { foap.log.accessRecords(route: "v1/chat/completions") }
        // Written when the iteration that finished the last request ends: at once, not on a timer.
        try await foap.waitFor("\(expected) chat access records") { records().count >= expected }
        let written = records()
        XCTAssertEqual(written.count, expected)
        XCTAssertEqual(Set(written.compactMap { $0["request_id"] as? String }).count, expected, "one record each")
        XCTAssertTrue(written.allSatisfy { $0["status"] as? String == "200" })
        XCTAssertEqual(foap.log.nonJSONLines, [], "no line cut or merged")
    }
}
