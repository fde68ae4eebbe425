import FOAPProxy
import Foundation
import NIOCore
import XCTest

/// The model foap checks and rewrites must be the model the upstream reads: a body that one parser reads as one
/// `model` and another parser as another would let a client key allowed one model run any other on the operator's
/// key. Each test sends a body that a black-box probe got past foap (read one way by foap, another way by
/// python-multipart, Werkzeug or Go's encoding/json) and checks it is refused before anything goes upstream.
final class ModelAgreementTests: XCTestCase {
    private func refusesUpload(
        _ form: MultipartBody, contentType: String? = nil, code: String = "invalid_multipart", line: UInt = #line
    ) async throws {
        let harness = try await self.startHardeningHarness()
        let connection = try await self.openRawConnection(harness)
        try await connection.send(Array(self.multipartUploadHead(form, contentType: contentType).utf8) + form.bytes)
        let response = try await connection.readResponse()
        self.assertOpenAIError(response, 400, code, line: line)
        XCTAssertTrue(harness.upstream.requests.isEmpty, line: line)
        XCTAssertEqual(harness.upstream.bodyBytesReceived, 0, line: line)
    }

    /// `boundary=BB; boundary=AA`: foap read BB's `model`, python-multipart AA's.
    func testARepeatedBoundaryParameterIsRefused() async throws {
        var form = MultipartBody(boundary: "BB")
        form.field("model", "audio-test")
        try await self.refusesUpload(form, contentType: "multipart/form-data; boundary=BB; boundary=AA")
    }

    /// A second part named `model` in a way foap did not read as `model`: a repeated `name` (parsers keep the last),
    /// an RFC 2231 `name*` (Werkzeug decodes it), a second `Content-Disposition`, a folded line.
    func testAPartNamedAmbiguouslyAfterTheModelIsRefused() async throws {
        let dispositions = [
            "Content-Disposition: form-data; name=\"x\"; name=\"model\"",
            "Content-Disposition: form-data; name*=UTF-8''model",
            "Content-Disposition: form-data; name=\"x\"\r\nContent-Disposition: form-data; name=\"model\"",
            "Content-Disposition: form-data;\r\n name=\"model\"",
        ]
        for disposition in dispositions {
            var form = MultipartBody()
            form.field("model", "audio-test")
            form.file("file", filename: "a.wav", contentType: "audio/wav", bytes: MultipartBody.trickyBytes(count: 300))
            form.field("x", "premium")
            form.parts[2].disposition = disposition
            try await self.refusesUpload(form)
        }
    }

    /// The same, before the `model` part: the scan stops there.
    func testAPartNamedAmbiguouslyBeforeTheModelIsRefused() async throws {
        var form = MultipartBody()
        form.field("x", "premium")
        form.parts[0].disposition = "Content-Disposition: form-data; name*=UTF-8''model"
        form.field("model", "audio-test")
        try await self.refusesUpload(form)
    }

    /// `name = "model"` (white space around `=`) is a `model` part like any other, so a second one is one too many.
    func testASpacedNameCountsAsASecondModelPart() async throws {
        var form = MultipartBody()
        form.field("model", "audio-test")
        form.field("model", "premium")
        form.parts[1].disposition = "Content-Disposition: form-data; name = \"model\""
        try await self.refusesUpload(form)
    }

    /// Go's `encoding/json` (Ollama) reads `Model` as the model too, in any letter case, the last one winning.
    func testAJSONModelMemberInOtherLetterCaseIsRefused() async throws {
        let harness = try await self.startHardeningHarness()
        let response = try await harness.send(
            .POST, "/v1/chat/completions", body: ByteBuffer(string: #"{"model":"gpt-test","Model":"secret"}"#),
            headers: [("Content-Type", "application/json")])
        XCTAssertEqual(response.status, 400, response.body)
        XCTAssertTrue(response.body.contains(#""code":"invalid_model""#), response.body)
        XCTAssertTrue(harness.upstream.requests.isEmpty)
    }

    /// foap read the first `Content-Type`; an upstream may read the last (another boundary, another `model`).
    func testARepeatedContentTypeIsRefused() async throws {
        let harness = try await self.startHardeningHarness()
        let connection = try await self.openRawConnection(harness)
        let body = #"{"model":"gpt-test","messages":[]}"#
        try await connection.send(
            "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                + "Content-Type: multipart/form-data; boundary=AA\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)")
        let response = try await connection.readResponse()
        self.assertOpenAIError(response, 400, "bad_http_request")
        XCTAssertTrue(harness.upstream.requests.isEmpty)
    }
}
