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
        let ids = written.compactMap { $0["request_id"] as? String }
        XCTAssertEqual(Set(ids).count, expected, "one record each")
        // Made up by the worker (the client sent none) and written into the line as a prefix and a number:
        // `foap-<8 hex digits>-<counter>`, one prefix per process.
        let parts = ids.map { $0.split(separator: "-", omittingEmptySubsequences: false) }
        XCTAssertTrue(
            parts.allSatisfy { part in
                part.count == 3 && part[0] == "foap" && part[1].count == 8 && part[1].allSatisfy(\.isHexDigit)
                    && !part[2].isEmpty && part[2].allSatisfy(\.isNumber) && part[2].first != "0"
            }, "\(ids.prefix(3))")
        XCTAssertEqual(Set(parts.map { $0.count > 1 ? $0[1] : "" }).count, 1, "one prefix per worker")
        XCTAssertTrue(written.allSatisfy { $0["status"] as? String == "200" })
        XCTAssertEqual(foap.log.nonJSONLines, [], "no line cut or merged")
    }
}
