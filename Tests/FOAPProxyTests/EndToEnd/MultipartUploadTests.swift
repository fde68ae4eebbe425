import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import XCTest

/// Multipart uploads (audio, image edits and variations): only the `model` value changes; every other part, repeated
/// field, filename and content type reaches the upstream byte for byte, and the body streams instead of being held.
final class MultipartUploadTests: XCTestCase {
    private func makeHarness() async throws -> ProxyHarness {
        let harness = try await ProxyHarness { request in
            .json(#"{"text":"ok","bytes":\#(request.body.readableBytes)}"#, headers: [("x-request-id", "req-mp")])
        }
        self.addTeardownBlock { try await harness.stop() }
        return harness
    }

    /// Sends `form` and checks the upstream got it with only the model replaced.
    private func assertPassthrough(
        _ form: MultipartBody,
        path: String,
        target: String,
        harness: ProxyHarness,
        line: UInt = #line
    ) async throws {
        let response = try await harness.send(
            .POST, path, body: form.buffer, headers: [("Content-Type", form.contentType)])
        XCTAssertEqual(response.status, 200, response.body, line: line)
        XCTAssertEqual(response.headers.first(name: "x-request-id"), "req-mp", line: line)
        let upstream = try XCTUnwrap(harness.upstream.requests.last, line: line)
        XCTAssertEqual(upstream.uri, path, line: line)
        XCTAssertEqual(upstream.headers.first(name: "content-type"), form.contentType, line: line)
        let expected = form.replacingModel(with: target)
        XCTAssertEqual(upstream.headers.first(name: "content-length"), String(expected.count), line: line)
        XCTAssertEqual(upstream.body.readableBytes, expected.count, line: line)
        XCTAssertTrue(upstream.body.hasSameBytes(as: expected), "body differs", line: line)
    }

    func testTranscriptionWithRepeatedFieldsPassesByteForByte() async throws {
        let harness = try await self.makeHarness()
        var form = MultipartBody()
        form.field("model", "audio-test")
        form.file(
            "file", filename: "speech 1 (final).wav", contentType: "audio/wav",
            bytes: MultipartBody.trickyBytes(count: 50_000))
        form.field("response_format", "verbose_json")
        form.field("timestamp_granularities[]", "word")
        form.field("timestamp_granularities[]", "segment")
        form.field("include[]", "logprobs")
        form.field("prompt", "Ünïcödé prompt\r\nwith a second line")
        form.parts[1].extraHeaders = ["Content-Transfer-Encoding: binary"]
        try await self.assertPassthrough(form, path: "/v1/audio/transcriptions", target: "whisper-up", harness: harness)
    }

    func testTranslationPassesByteForByte() async throws {
        let harness = try await self.makeHarness()
        var form = MultipartBody(boundary: "----WebKitFormBoundaryz8QH6EbRFAsDyKmp")
        form.file(
            "file", filename: "de.mp3", contentType: "audio/mpeg",
            bytes: MultipartBody.trickyBytes(count: 9_000, seed: 4))
        form.field("model", "audio-test")
        form.field("temperature", "0")
        try await self.assertPassthrough(form, path: "/v1/audio/translations", target: "whisper-up", harness: harness)
    }

    func testImageEditWithSeveralImagesAndTheModelAfterTheFiles() async throws {
        let harness = try await self.makeHarness()
        var form = MultipartBody(boundary: "boundary-with_=+.chars'()")
        form.file(
            "image[]", filename: "a.png", contentType: "image/png",
            bytes: MultipartBody.trickyBytes(count: 70_000, seed: 1))
        form.file(
            "image[]", filename: "b.webp", contentType: "image/webp",
            bytes: MultipartBody.trickyBytes(count: 20_000, seed: 2))
        form.file(
            "mask", filename: "mask.png", contentType: "image/png",
            bytes: MultipartBody.trickyBytes(count: 1_000, seed: 3))
        form.field("prompt", "Add a hat")
        form.field("model", "image-test")
        form.field("n", "2")
        try await self.assertPassthrough(form, path: "/v1/images/edits", target: "img-up", harness: harness)
    }

    func testImageVariationWithAQuotedBoundary() async throws {
        let harness = try await self.makeHarness()
        var form = MultipartBody(boundary: "qb")
        form.file(
            "image", filename: "v.png", contentType: "image/png",
            bytes: MultipartBody.trickyBytes(count: 4_000, seed: 9))
        form.field("model", "image-test")
        let quoted = "multipart/form-data; charset=utf-8; boundary=\"qb\""
        let response = try await harness.send(
            .POST, "/v1/images/variations", body: form.buffer, headers: [("Content-Type", quoted)])
        XCTAssertEqual(response.status, 200, response.body)
        let upstream = try XCTUnwrap(harness.upstream.requests.last)
        XCTAssertEqual(upstream.headers.first(name: "content-type"), quoted)
        XCTAssertTrue(upstream.body.hasSameBytes(as: form.replacingModel(with: "img-up")))
    }

    func testModelIdWithASlashInAMultipartField() async throws {
        let harness = try await ProxyHarness(config: { base in
            ProxyHarness.defaultConfig(base).replacingOccurrences(
                of: #""audio-test": {"#,
                with: #""openai/whisper-large-v3": { "endpoints": [{ "path": "v1/audio/transcriptions", "#
                    + #""target_model_name": "w3" }] }, "audio-test": {"#
            )
        }) { _ in .json("{}", headers: [("x-request-id", "req-mp")]) }
        self.addTeardownBlock { try await harness.stop() }
        var form = MultipartBody()
        form.field("model", "openai/whisper-large-v3")
        form.file("file", filename: "a.flac", contentType: "audio/flac", bytes: [1, 2, 3])
        try await self.assertPassthrough(form, path: "/v1/audio/transcriptions", target: "w3", harness: harness)
    }

    func testMultipartClientMistakes() async throws {
        let harness = try await self.makeHarness()
        var noModel = MultipartBody()
        noModel.file("file", filename: "a.wav", contentType: "audio/wav", bytes: [1, 2])
        var unknown = MultipartBody()
        unknown.field("model", "nope")
        var wrongRoute = MultipartBody()
        wrongRoute.field("model", "gpt-test")
        var truncated = MultipartBody()
        truncated.field("model", "audio-test")
        let cases: [(ByteBuffer, String, UInt, String)] = [
            (noModel.buffer, noModel.contentType, 400, "missing_model"),
            (unknown.buffer, unknown.contentType, 404, "model_not_found"),
            (wrongRoute.buffer, wrongRoute.contentType, 404, "unsupported_route_for_model"),
            (ByteBuffer(bytes: truncated.bytes.prefix(50)), truncated.contentType, 400, "invalid_multipart"),
            (ByteBuffer(string: "junk--b\r\n"), "multipart/form-data; boundary=b", 400, "invalid_multipart"),
            // Without one usable boundary there is no telling which parts an upstream would read.
            (noModel.buffer, "multipart/form-data", 400, "invalid_multipart"),
        ]
        for (body, contentType, status, code) in cases {
            let response = try await harness.send(
                .POST, "/v1/audio/transcriptions", body: body, headers: [("Content-Type", contentType)])
            XCTAssertEqual(response.status, status, code)
            XCTAssertTrue(response.body.contains(#""code":"\#(code)""#), response.body)
        }
        XCTAssertTrue(harness.upstream.requests.isEmpty)
    }

    /// A chunked upload (no Content-Length) streams through chunked to the upstream.
    func testChunkedUploadWithoutContentLength() async throws {
        let harness = try await self.makeHarness()
        var form = MultipartBody()
        form.field("model", "audio-test")
        form.file(
            "file", filename: "a.ogg", contentType: "audio/ogg",
            bytes: MultipartBody.trickyBytes(count: 300_000, seed: 5))
        let bytes = form.bytes
        let pieces = stride(from: 0, to: bytes.count, by: 7_777).map {
            ByteBuffer(bytes: bytes[$0..<min($0 + 7_777, bytes.count)])
        }
        var request = HTTPClientRequest(url: harness.baseURL + "/v1/audio/transcriptions")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: form.contentType)
        request.body = .stream(bodyStream(pieces), length: .unknown)
        let response = try await harness.client.execute(request, timeout: .seconds(30))
        XCTAssertEqual(response.status, .ok)
        _ = try await response.body.collect(upTo: 1 << 20)
        let upstream = try XCTUnwrap(harness.upstream.requests.last)
        XCTAssertNil(upstream.headers.first(name: "content-length"))
        XCTAssertEqual(upstream.headers.first(name: "transfer-encoding"), "chunked")
        XCTAssertTrue(upstream.body.hasSameBytes(as: form.replacingModel(with: "whisper-up")))
    }

    /// A client that vanishes halfway through an upload: the half-sent upstream request is abandoned (its
    /// connection closed, nothing completed upstream) and the worker keeps serving.
    func testClientVanishingMidUploadAbandonsTheUpstreamRequest() async throws {
        let harness = try await self.makeHarness()
        var form = MultipartBody()
        form.field("model", "audio-test")
        form.file("file", filename: "a.wav", contentType: "audio/wav", bytes: MultipartBody.trickyBytes(count: 200_000))
        let bytes = form.bytes
        let connection = try await RawHTTPConnection.connect(port: harness.port)
        try await connection.send(
            "POST /v1/audio/transcriptions HTTP/1.1\r\nHost: x\r\nContent-Type: \(form.contentType)\r\n"
                + "Content-Length: \(bytes.count)\r\n\r\n"
        )
        try await connection.send(Array(bytes[0..<(bytes.count / 2)]))
        let sawUpload = eventually { harness.upstream.bodyBytesReceived > 0 }
        XCTAssertTrue(sawUpload, "the upload had started streaming upstream")
        await connection.close()
        let abandoned = eventually { harness.upstream.closedConnections >= 1 }
        XCTAssertTrue(abandoned, "the upstream connection of the abandoned upload was not closed")
        XCTAssertTrue(harness.upstream.requests.isEmpty, "no upstream request may complete from half a body")
        let next = try await harness.send(.GET, "/health")
        XCTAssertEqual(next.status, 200)
    }

    /// A slow client whose upload takes longer than `request_timeout` is not a silent upstream: the timeout counts
    /// from the last byte moved. (Gaps are 10x shorter than the timeout, so scheduling noise cannot fail it.)
    func testUploadLongerThanTheRequestTimeoutIsNotCutWhileBytesKeepFlowing() async throws {
        let harness = try await ProxyHarness(config: { base in
            #"{"p":{"target_base_url":"\#(base)","request_timeout":1,"models":{"slow-audio":{"endpoints":"#
                + #"[{"path":"v1/audio/transcriptions","target_model_name":"w"}]}}}}"#
        }) { request in .json(#"{"bytes":\#(request.body.readableBytes)}"#) }
        self.addTeardownBlock { try await harness.stop() }
        var form = MultipartBody()
        form.field("model", "slow-audio")
        form.file("file", filename: "a.wav", contentType: "audio/wav", bytes: MultipartBody.trickyBytes(count: 24_000))
        let bytes = form.bytes
        let (stream, continuation) = AsyncStream<ByteBuffer>.makeStream()
        var request = HTTPClientRequest(url: harness.baseURL + "/v1/audio/transcriptions")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: form.contentType)
        request.body = .stream(stream, length: .known(Int64(bytes.count)))
        let client = harness.client
        let responseTask = Task { try await client.execute(request, timeout: .seconds(30)).status }
        let pieces = stride(from: 0, to: bytes.count, by: 2_000).map {
            ByteBuffer(bytes: bytes[$0..<min($0 + 2_000, bytes.count)])
        }
        for piece in pieces {  // 13 pieces, 100 ms apart: ~1.3 s in all, longer than the 1 s timeout
            continuation.yield(piece)
            try await Task.sleep(nanoseconds: 100_000_000)
        }
        continuation.finish()
        let status = try await responseTask.value
        XCTAssertEqual(status, .ok)
        XCTAssertEqual(harness.upstream.requests.last?.body.readableBytes, form.replacingModel(with: "w").count)
    }

    /// 20 MB: the upstream receives the first bytes while the client still holds back the rest, so the proxy cannot
    /// be holding the upload whole; in the end the upstream has every byte.
    func testTwentyMegabyteUploadStreamsToTheUpstreamByteExact() async throws {
        let harness = try await self.makeHarness()
        let fileSize = 20 * 1024 * 1024
        var form = MultipartBody()
        form.field("model", "audio-test")
        form.field("timestamp_granularities[]", "word")
        form.file(
            "file", filename: "long.wav", contentType: "audio/wav",
            bytes: MultipartBody.trickyBytes(count: fileSize, seed: 8))
        let bytes = form.bytes
        let (stream, continuation) = AsyncStream<ByteBuffer>.makeStream()
        var request = HTTPClientRequest(url: harness.baseURL + "/v1/audio/transcriptions")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: form.contentType)
        request.body = .stream(stream, length: .known(Int64(bytes.count)))
        let client = harness.client
        let responseTask = Task { () throws -> (HTTPResponseStatus, ByteBuffer) in
            let response = try await client.execute(request, timeout: .seconds(60))
            return (response.status, try await response.body.collect(upTo: 1 << 20))
        }
        let firstPiece = 1024 * 1024
        continuation.yield(ByteBuffer(bytes: bytes[0..<firstPiece]))
        // Streaming proof: the upstream sees upload bytes before the client has sent 95% of them.
        let deadline = Date().addingTimeInterval(20)
        while harness.upstream.bodyBytesReceived == 0, Date() < deadline {
            try await Task.sleep(nanoseconds: 2_000_000)
        }
        XCTAssertGreaterThan(harness.upstream.bodyBytesReceived, 0, "the upload was not streamed to the upstream")
        XCTAssertEqual(harness.upstream.requests.count, 0, "the upstream request cannot be complete yet")
        for start in stride(from: firstPiece, to: bytes.count, by: 1024 * 1024) {
            continuation.yield(ByteBuffer(bytes: bytes[start..<min(start + 1024 * 1024, bytes.count)]))
        }
        continuation.finish()
        let (status, body) = try await responseTask.value
        XCTAssertEqual(status, .ok)
        let expected = form.replacingModel(with: "whisper-up")
        XCTAssertEqual(String(buffer: body), #"{"text":"ok","bytes":\#(expected.count)}"#)
        let upstream = try XCTUnwrap(harness.upstream.requests.last)
        XCTAssertEqual(upstream.headers.first(name: "content-length"), String(expected.count))
        XCTAssertTrue(upstream.body.hasSameBytes(as: expected), "the upload was altered")
        let records = try await harness.accessRecords(atLeast: 1)
        XCTAssertEqual(records.last?["bytes_in"], String(bytes.count))
    }

    func testUploadOverTheLimitIs413EvenAfterStreamingStarted() async throws {
        let harness = try await ProxyHarness(configure: { $0.maxBodySize = 100_000 }) { _ in .json("{}") }
        self.addTeardownBlock { try await harness.stop() }
        var form = MultipartBody()
        form.field("model", "audio-test")
        form.file(
            "file", filename: "big.wav", contentType: "audio/wav", bytes: MultipartBody.trickyBytes(count: 300_000))
        let bytes = form.bytes
        let pieces = stride(from: 0, to: bytes.count, by: 10_000).map {
            ByteBuffer(bytes: bytes[$0..<min($0 + 10_000, bytes.count)])
        }
        var request = HTTPClientRequest(url: harness.baseURL + "/v1/audio/transcriptions")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: form.contentType)
        request.body = .stream(bodyStream(pieces), length: .unknown)
        do {
            let response = try await harness.client.execute(request, timeout: .seconds(30))
            XCTAssertEqual(response.status.code, 413)
            let body = try await response.body.collect(upTo: 1 << 20)
            XCTAssertTrue(String(buffer: body).contains("request_too_large"))
        } catch {
            // The proxy may close before the client finished sending; the upstream must not get a complete body.
        }
        XCTAssertTrue(harness.upstream.requests.isEmpty, "a truncated upload must never reach the upstream as complete")
    }
}

/// An `AsyncSequence` over fixed buffers, for request bodies sent in pieces.
func bodyStream(_ pieces: [ByteBuffer]) -> AsyncStream<ByteBuffer> {
    AsyncStream { continuation in
        for piece in pieces { continuation.yield(piece) }
        continuation.finish()
    }
}
