import FOAPProxy
import XCTest

/// What the hardening tests share: a harness torn down with the test, a raw connection to it, and the checks of an
/// OpenAI-shaped refusal.
extension XCTestCase {
    func startHardeningHarness(
        environment: [String: String] = ["MOCK_KEY": "sk-upstream-secret"],
        configure: (inout ProxyConfiguration) -> Void = { _ in },
        respond: @escaping @Sendable (MockUpstream.Request) -> MockUpstream.Response = { _ in .json(#"{"ok":true}"#) }
    ) async throws -> ProxyHarness {
        let harness = try await ProxyHarness(environment: environment, configure: configure, respond: respond)
        self.addTeardownBlock { try await harness.stop() }
        return harness
    }

    func openRawConnection(_ harness: ProxyHarness) async throws -> RawHTTPConnection {
        let connection = try await RawHTTPConnection.connect(port: harness.port)
        self.addTeardownBlock { await connection.close() }
        return connection
    }

    func assertOpenAIError(
        _ response: RawHTTPConnection.Response, _ status: UInt, _ code: String, line: UInt = #line
    ) {
        XCTAssertEqual(response.status, status, response.bodyString, line: line)
        XCTAssertEqual(response.header("content-type"), "application/json", line: line)
        XCTAssertTrue(response.bodyString.contains(#""code":"\#(code)""#), response.bodyString, line: line)
    }

    /// The head of a multipart upload of `form` (its declared length `length`, else the form's own).
    func multipartUploadHead(
        _ form: MultipartBody, length: Int? = nil, path: String = "/v1/audio/transcriptions",
        contentType: String? = nil
    ) -> String {
        "POST \(path) HTTP/1.1\r\nHost: x\r\nContent-Type: \(contentType ?? form.contentType)\r\n"
            + "Content-Length: \(length ?? form.bytes.count)\r\n\r\n"
    }
}
