import XCTest

/// Token counts reach the access record, from JSON answers and from streams, and the answer is relayed unchanged.
final class TokenUsageRecordTests: XCTestCase {
    func testJSONAndStreamAnswersWriteTheirUsageIntoTheAccessRecord() async throws {
        let harness = try await ProxyHarness { request in
            if request.bodyString.contains(#""stream":true"#) {
                let events = TokenUsageScannerTests.vLLMStream.components(separatedBy: "\n\n").filter { !$0.isEmpty }
                return .chunks(
                    status: .ok, headers: [("Content-Type", "text/event-stream")],
                    chunks: events.map { $0 + "\n\n" }, interval: .milliseconds(1)
                )
            }
            return .json(TokenUsageScannerTests.openAIChat)
        }
        self.addTeardownBlock { try await harness.stop() }
        let whole = try await harness.send(.POST, "/v1/chat/completions", json: #"{"model":"gpt-test"}"#)
        XCTAssertEqual(whole.body, TokenUsageScannerTests.openAIChat, "relayed byte for byte")
        let stream = try await harness.send(.POST, "/v1/chat/completions", json: #"{"model":"gpt-test","stream":true}"#)
        XCTAssertTrue(stream.body.contains(#""completion_tokens": 7"#))
        let records = try await harness.accessRecords(atLeast: 2)
        XCTAssertEqual(records[0]["prompt_tokens"], "19")
        XCTAssertEqual(records[0]["completion_tokens"], "10")
        XCTAssertEqual(records[1]["prompt_tokens"], "42")
        XCTAssertEqual(records[1]["completion_tokens"], "7")
        XCTAssertEqual(records[1]["stream"], "true")
    }

    func testErrorAnswersAndOtherRoutesWriteNoUsage() async throws {
        let harness = try await ProxyHarness { _ in
            .json(#"{"error":{"message":"no"},"usage":{"prompt_tokens":5}}"#, status: .badRequest)
        }
        self.addTeardownBlock { try await harness.stop() }
        _ = try await harness.send(.POST, "/v1/chat/completions", json: #"{"model":"gpt-test"}"#)
        let records = try await harness.accessRecords(atLeast: 1)
        XCTAssertNil(records[0]["prompt_tokens"])
    }
}
