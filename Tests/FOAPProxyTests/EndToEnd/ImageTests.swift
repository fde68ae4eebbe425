import NIOCore
import NIOHTTP1
import XCTest

/// Image answers: URLs minted under `BASE_URL` are pointed at `/v1/images/data/{model}/{file}`, which fetches the
/// file from the model's `v1/images/data` upstream and streams it back.
final class ImageTests: XCTestCase {
    /// The default config plus a model whose id holds a slash.
    private static func config(_ base: String) -> String {
        ProxyHarness.defaultConfig(base).replacingOccurrences(
            of: #""image-test": {"#,
            with: #"""
                "stability/sd-xl": { "endpoints": [
                    { "path": "v1/images/generations", "target_model_name": "sdxl" },
                    { "path": "v1/images/data", "target_model_name": "sdxl" }] },
                "image-test": {
                """#
        )
    }

    private func makeHarness(
        _ respond: @escaping @Sendable (MockUpstream.Request) -> MockUpstream.Response
    ) async throws -> ProxyHarness {
        let harness = try await ProxyHarness(config: Self.config, respond: respond)
        self.addTeardownBlock { try await harness.stop() }
        return harness
    }

    func testURLAnswersArePointedAtTheImageDataRoute() async throws {
        let answer = """
            {"created":1713833628,"data":[{"url":"http://gateway.test:8000/v1/images/data/file-1.png",\
            "revised_prompt":"A cat"},{"url":"https://cdn.example.com/file-2.png"}]}
            """
        let harness = try await self.makeHarness { _ in .json(answer) }
        for (model, path) in [("image-test", "/v1/images/generations"), ("stability/sd-xl", "/v1/images/generations")] {
            let response = try await harness.send(.POST, path, json: #"{"model":"\#(model)","prompt":"a cat"}"#)
            XCTAssertEqual(response.status, 200)
            let expected = answer.replacingOccurrences(
                of: "8000/v1/images/data/file-1.png",
                with: "8000/v1/images/data/\(model)/file-1.png"
            )
            XCTAssertEqual(response.body, expected)
            XCTAssertEqual(response.headers.first(name: "content-length"), String(expected.utf8.count))
            XCTAssertEqual(response.headers.first(name: "content-type"), "application/json")
        }
    }

    func testMultipartEditAnswersAreRewrittenToo() async throws {
        let harness = try await self.makeHarness { _ in .json(#"{"data":[{"url":"http://gateway.test:8000/e.png"}]}"#) }
        var form = MultipartBody()
        form.field("model", "image-test")
        form.file("image", filename: "i.png", contentType: "image/png", bytes: [0x89, 0x50, 0x4E, 0x47])
        let response = try await harness.send(
            .POST, "/v1/images/edits", body: form.buffer, headers: [("Content-Type", form.contentType)])
        XCTAssertEqual(response.body, #"{"data":[{"url":"http://gateway.test:8000/v1/images/data/image-test/e.png"}]}"#)
    }

    func testB64AnswersAndErrorsPassUntouched() async throws {
        let b64 =
            #"{"created":1,"data":[{"b64_json":"iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk","#
            + #""revised_prompt":"http://gateway.test:8000/x"}]}"#
        let harness = try await self.makeHarness { request in
            request.bodyString.contains("bad")
                ? .json(
                    #"{"error":{"message":"url http://gateway.test:8000/a","code":"content_policy_violation"}}"#,
                    status: .badRequest)
                : .json(b64)
        }
        let ok = try await harness.send(
            .POST, "/v1/images/generations", json: #"{"model":"image-test","response_format":"b64_json"}"#)
        XCTAssertEqual(ok.body, b64)
        let refused = try await harness.send(
            .POST, "/v1/images/generations", json: #"{"model":"image-test","prompt":"bad"}"#)
        XCTAssertEqual(refused.status, 400)
        XCTAssertEqual(
            refused.body, #"{"error":{"message":"url http://gateway.test:8000/a","code":"content_policy_violation"}}"#)
    }

    func testLargeImageAnswerPassesThroughUnrewritten() async throws {
        let harness = try await ProxyHarness(configure: { $0.maxRewrittenResponseSize = 1000 }) { _ in
            .bytes(status: .ok, contentType: "application/json", size: 300_000)
        }
        self.addTeardownBlock { try await harness.stop() }
        let response = try await harness.send(.POST, "/v1/images/generations", json: #"{"model":"image-test"}"#)
        XCTAssertEqual(response.status, 200)
        XCTAssertTrue(response.bytes.hasSameBytes(as: MockUpstream.patternBytes(size: 300_000)))
    }

    func testImageDataIsFetchedFromTheModelsUpstreamAndStreamedBack() async throws {
        let size = 700_000
        let harness = try await self.makeHarness { request in
            request.method == .GET ? .bytes(status: .ok, contentType: "image/png", size: size) : .json("{}")
        }
        for (model, target) in [("image-test", "file-1.png"), ("stability/sd-xl", "file-2.png")] {
            let response = try await harness.send(.GET, "/v1/images/data/\(model)/\(target)?sig=abc")
            XCTAssertEqual(response.status, 200)
            XCTAssertEqual(response.headers.first(name: "content-type"), "image/png")
            XCTAssertTrue(response.bytes.hasSameBytes(as: MockUpstream.patternBytes(size: size)))
            let upstream = try XCTUnwrap(harness.upstream.requests.last)
            XCTAssertEqual(upstream.method, .GET)
            XCTAssertEqual(upstream.uri, "/v1/images/data/\(target)?sig=abc")
            XCTAssertEqual(upstream.headers.first(name: "authorization"), "Bearer sk-upstream-secret")
        }
        let escaped = try await harness.send(.GET, "/v1/images/data/stability%2Fsd-xl/file%20three.png")
        XCTAssertEqual(escaped.status, 200)
        XCTAssertEqual(harness.upstream.requests.last?.uri, "/v1/images/data/file%20three.png")
    }

    func testImageDataErrors() async throws {
        let harness = try await self.makeHarness { _ in
            .json(#"{"error":{"message":"No such file"}}"#, status: .notFound)
        }
        let missing = try await harness.send(.GET, "/v1/images/data/image-test/gone.png")
        XCTAssertEqual(missing.status, 404)
        XCTAssertEqual(missing.body, #"{"error":{"message":"No such file"}}"#, "the upstream's own 404 passes")
        // Without a key, "no such model" and "no image data for it" must look the same (no model enumeration).
        let unknown = try await harness.send(.GET, "/v1/images/data/nope/f.png")
        let noRoute = try await harness.send(.GET, "/v1/images/data/gpt-test/f.png")
        XCTAssertEqual(unknown.status, 404)
        XCTAssertEqual(noRoute.status, 404)
        XCTAssertTrue(unknown.body.contains("model_not_found"))
        XCTAssertTrue(noRoute.body.contains("model_not_found"))
        XCTAssertEqual(
            unknown.body.replacingOccurrences(of: "nope", with: "X"),
            noRoute.body.replacingOccurrences(of: "gpt-test", with: "X"))
        // Dot segments (plain or escaped) as the file id would walk the upstream's paths on the operator's key.
        for dots in ["..", "%2e%2e", "%2E.", ".", "%2e"] {
            let response = try await harness.send(.GET, "/v1/images/data/image-test/\(dots)")
            XCTAssertEqual(response.status, 400, dots)
            XCTAssertTrue(response.body.contains("invalid_file_id"), dots)
        }
        XCTAssertEqual(harness.upstream.requests.count, 1)
    }
}
