import Foundation
import NIOCore
import XCTest

@testable import FOAPProxy

/// Every error foap produces is one JSON shape: `{"error":{"message","type","param","code"}}`.
final class OpenAIErrorTests: XCTestCase {
    /// Error bodies and rewritten model names go through the shared escaper; every kind of escape, and the
    /// unescaped runs around them, arrive in order.
    func testJSONStringsInBodiesAreEscapedAsRFC8259Asks() throws {
        var buffer = ByteBuffer()
        buffer.writeJSONString("a\"b\\c\n\r\t\u{8}\u{C}\u{1}é/x")
        XCTAssertEqual(String(buffer: buffer), #""a\"b\\c\n\r\t\b\f\u0001é/x""#)
        let parsed = try JSONSerialization.jsonObject(with: Data(buffer.readableBytesView), options: .fragmentsAllowed)
        XCTAssertEqual(parsed as? String, "a\"b\\c\n\r\t\u{8}\u{C}\u{1}é/x")
        var plain = ByteBuffer()
        plain.writeJSONString("gpt-4o-mini")
        XCTAssertEqual(String(buffer: plain), #""gpt-4o-mini""#)
    }

    private func decode(_ error: OpenAIError) throws -> [String: Any] {
        let body = error.body()
        let object = try JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any]
        let keys = try XCTUnwrap(object).keys.sorted()
        XCTAssertEqual(keys, ["error"])
        return try XCTUnwrap(object?["error"] as? [String: Any])
    }

    func testShapeAndExactBytes() throws {
        let error = OpenAIError.modelNotFound("gpt-5")
        XCTAssertEqual(
            String(buffer: error.body()),
            #"{"error":{"message":"The model 'gpt-5' does not exist or you do not have access to it.","#
                + #""type":"invalid_request_error","param":"model","code":"model_not_found"}}"# + "\n"
        )
        XCTAssertEqual(error.status, .notFound)
    }

    func testParamIsNullWhenAbsent() throws {
        let inner = try self.decode(.unknownRoute("/v9/x"))
        XCTAssertTrue(inner["param"] is NSNull)
        XCTAssertEqual(inner["code"] as? String, "unknown_url")
        XCTAssertEqual(inner["type"] as? String, "invalid_request_error")
    }

    func testMessagesWithQuotesControlCharactersAndUnicodeStayValidJSON() throws {
        let hostile = "a\"b\\c\n\r\t\u{0}\u{1F}\u{7F}é😀</script>"
        let inner = try self.decode(.modelNotFound(hostile))
        XCTAssertEqual(
            inner["message"] as? String, "The model '\(hostile)' does not exist or you do not have access to it.")
        let route = try self.decode(.routeNotServed(model: hostile, route: "v1/embeddings"))
        XCTAssertEqual(route["code"] as? String, "unsupported_route_for_model")
        XCTAssertTrue((route["message"] as? String)?.contains("/v1/embeddings") ?? false)
    }

    func testEveryErrorFoapProducesHasItsStatusTypeAndCode() throws {
        let cases: [(OpenAIError, UInt, String, String)] = [
            (.modelNotFound("m"), 404, "invalid_request_error", "model_not_found"),
            (.routeNotServed(model: "m", route: "v1/x"), 404, "invalid_request_error", "unsupported_route_for_model"),
            (.unknownRoute("/x"), 404, "invalid_request_error", "unknown_url"),
            (
                .methodNotAllowed(method: "GET", path: "/v1/x", allowed: "POST"), 405, "invalid_request_error",
                "method_not_allowed"
            ),
            (.bodyTooLarge(limit: 10), 413, "invalid_request_error", "request_too_large"),
            (.malformedHTTP, 400, "invalid_request_error", "bad_http_request"),
            (.upstreamUnreachable(model: "http://u"), 502, "server_error", "upstream_unreachable"),
            (.upstreamFailed(model: "http://u"), 502, "server_error", "upstream_error"),
            (.upstreamTimeout(model: "http://u", seconds: 1.5), 504, "server_error", "upstream_timeout"),
            (.credentialMissing(provider: "p", variable: "VAR"), 503, "server_error", "upstream_key_missing"),
            (.shuttingDown, 503, "server_error", "shutting_down"),
            (JSONBodyError.notJSON(offset: 3).openAIError, 400, "invalid_request_error", "invalid_json"),
            (JSONBodyError.notAnObject.openAIError, 400, "invalid_request_error", "invalid_json"),
            (JSONBodyError.missingModel.openAIError, 400, "invalid_request_error", "missing_model"),
            (JSONBodyError.modelNotString.openAIError, 400, "invalid_request_error", "invalid_model"),
        ]
        for (error, status, type, code) in cases {
            let inner = try self.decode(error)
            XCTAssertEqual(error.status.code, status, code)
            XCTAssertEqual(inner["type"] as? String, type, code)
            XCTAssertEqual(inner["code"] as? String, code)
            XCTAssertFalse((inner["message"] as? String ?? "").isEmpty, code)
            XCTAssertTrue(inner.keys.contains("param"), code)
        }
    }

    func testMessagesNameWhatTheClientNeedsButNoSecret() {
        XCTAssertTrue(OpenAIError.upstreamTimeout(model: "http://u", seconds: 2).message.contains("2 s"))
        XCTAssertTrue(OpenAIError.upstreamTimeout(model: "http://u", seconds: 0.25).message.contains("0.25 s"))
        XCTAssertTrue(
            OpenAIError.credentialMissing(provider: "openAI", variable: "OPENAI_KEY").message.contains("OPENAI_KEY"))
        XCTAssertTrue(OpenAIError.bodyTooLarge(limit: 1024).message.contains("1024"))
        XCTAssertTrue(JSONBodyError.notJSON(offset: 17).openAIError.message.contains("17"))
    }

    func testMethodNotAllowedCarriesAllow() {
        let error = OpenAIError.methodNotAllowed(method: "GET", path: "/v1/chat/completions", allowed: "POST")
        XCTAssertEqual(error.headers.map { "\($0.0): \($0.1)" }, ["Allow: POST"])
    }

    func testEqualityIgnoresHeadersButNotContent() {
        XCTAssertEqual(OpenAIError.modelNotFound("a"), OpenAIError.modelNotFound("a"))
        XCTAssertNotEqual(OpenAIError.modelNotFound("a"), OpenAIError.modelNotFound("b"))
    }
}
