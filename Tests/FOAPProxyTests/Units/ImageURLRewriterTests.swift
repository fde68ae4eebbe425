import NIOCore
import XCTest

@testable import FOAPProxy

/// `data[].url` values minted under `BASE_URL` are pointed at `/v1/images/data/{model}/{file}`; nothing else changes.
final class ImageURLRewriterTests: XCTestCase {
    private let rewriter = ImageURLRewriter(baseURL: "http://gw.example:8000/")

    private func rewrite(_ json: String, model: String = "dall-e-3") -> String? {
        self.rewriter.rewrite(ByteBuffer(string: json), model: model).map { String(buffer: $0) }
    }

    func testURLsUnderBaseURLGetTheModelInserted() {
        let json = """
            {"created":1,"data":[{"url":"http://gw.example:8000/v1/images/data/file-1.png",\
            "revised_prompt":"a"},{"url":"http://gw.example:8000/img-2.png"}]}
            """
        XCTAssertEqual(
            self.rewrite(json),
            """
            {"created":1,"data":[{"url":"http://gw.example:8000/v1/images/data/dall-e-3/file-1.png",\
            "revised_prompt":"a"},{"url":"http://gw.example:8000/v1/images/data/dall-e-3/img-2.png"}]}
            """
        )
    }

    func testModelIdsWithSlashesStayRoutable() throws {
        let out = try XCTUnwrap(
            self.rewrite(#"{"data":[{"url":"http://gw.example:8000/v1/images/data/f.png"}]}"#, model: "org/sdxl"))
        XCTAssertEqual(out, #"{"data":[{"url":"http://gw.example:8000/v1/images/data/org/sdxl/f.png"}]}"#)
        XCTAssertEqual(
            Route.resolve(method: .GET, uri: "/v1/images/data/org/sdxl/f.png"),
            .imageData(model: "org/sdxl", fileID: "f.png")
        )
    }

    func testForeignURLsAndB64AnswersAreUntouched() {
        XCTAssertNil(
            self.rewrite(#"{"data":[{"url":"https://oaidalleapiprodscus.blob.core.windows.net/x.png?sig=1"}]}"#))
        XCTAssertNil(self.rewrite(#"{"data":[{"b64_json":"iVBORw0KGgoAAAANSUhEUgAA","revised_prompt":"url"}]}"#))
        XCTAssertNil(self.rewrite(#"{"data":[{"url":"http://gw.example:8000.evil.com/x.png"}]}"#))
        XCTAssertNil(self.rewrite(#"{"data":[{"url":"http://gw.example:8000"}]}"#))
        XCTAssertNil(self.rewrite(#"{"data":[{"url":"http://gw.example:8000/"}]}"#))
        XCTAssertNil(self.rewrite(#"{"data":[{"url":null},{"url":42}]}"#))
        XCTAssertNil(self.rewrite("not json at all \"url\""))
        XCTAssertNil(self.rewrite(""))
    }

    func testAlreadyRewrittenURLsAreNotRewrittenTwice() {
        let json = #"{"data":[{"url":"http://gw.example:8000/v1/images/data/dall-e-3/file-1.png"}]}"#
        XCTAssertNil(self.rewrite(json))
    }

    func testTheKeyInsideAStringValueIsNotAKey() {
        let json = #"{"data":[{"revised_prompt":"say \"url\": \"http://gw.example:8000/x\"","b64_json":"AA=="}]}"#
        XCTAssertNil(self.rewrite(json))
    }

    func testWhitespaceAndEscapedSlashes() {
        let json = "{\"data\" : [ { \"url\" :\n \"http:\\/\\/gw.example:8000\\/v1\\/images\\/data\\/f.png\" } ] }"
        XCTAssertEqual(
            self.rewrite(json),
            "{\"data\" : [ { \"url\" :\n \"http://gw.example:8000/v1/images/data/dall-e-3/f.png\" } ] }"
        )
    }

    func testEveryOtherByteIsKept() throws {
        let json = """
            {"created":1713833628,"data":[{"revised_prompt":"é \\u00e9 \\"q\\"",\
            "url":"http://gw.example:8000/a.png"}],"usage":{"total_tokens":100},"unknown":[1,2,{"x":null}]}
            """
        let out = try XCTUnwrap(self.rewrite(json))
        XCTAssertEqual(out, json.replacingOccurrences(of: "8000/a.png", with: "8000/v1/images/data/dall-e-3/a.png"))
    }

    func testBaseURLTrailingSlashesAreTrimmedAndMattersNotForMatching() {
        let plain = ImageURLRewriter(baseURL: "http://gw.example:8000")
        XCTAssertEqual(
            plain.rewrittenURL("http://gw.example:8000/f.png", model: "m"),
            "http://gw.example:8000/v1/images/data/m/f.png")
        XCTAssertEqual(self.rewriter.dataURL(model: "m", fileID: "f"), "http://gw.example:8000/v1/images/data/m/f")
        let prefixed = ImageURLRewriter(baseURL: "https://api.example.com/ai//")
        XCTAssertEqual(
            prefixed.rewrittenURL("https://api.example.com/ai/v1/images/data/f.png", model: "m"),
            "https://api.example.com/ai/v1/images/data/m/f.png"
        )
        XCTAssertNil(prefixed.rewrittenURL("https://api.example.com/other/f.png", model: "m"))
    }

    func testTruncatedStringEndsTheScanWithoutCrashing() {
        XCTAssertNil(self.rewrite(#"{"data":[{"url":"http://gw.example:8000/f.png"#))
        XCTAssertNil(self.rewrite(#"{"data":[{"url":"#))
        XCTAssertNil(self.rewrite(#"{"url"  "#))
    }
}
