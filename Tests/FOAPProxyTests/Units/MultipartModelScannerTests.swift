import NIOCore
import XCTest

@testable import FOAPProxy

/// `MultipartModelScanner` finds the `model` part while an upload is still arriving; it must give the same answer
/// however the body is split into reads.
final class MultipartModelScannerTests: XCTestCase {
    func testBoundaryParameterParsing() {
        let cases: [(String, String?)] = [
            ("multipart/form-data; boundary=abc", "abc"),
            ("multipart/form-data;boundary=abc", "abc"),
            ("Multipart/Form-Data; BOUNDARY=abc", "abc"),
            ("  multipart/form-data; boundary=abc", "abc"),
            ("multipart/", nil),
            ("multipart/form-data; charset=utf-8; boundary=\"a b\"", "a b"),
            ("multipart/form-data; boundary=\"quoted-boundary\"", "quoted-boundary"),
            ("multipart/form-data; boundary = spaced ", "spaced"),
            ("multipart/form-data; boundary=\"\"", nil),
            ("multipart/form-data; boundary=", nil),
            ("multipart/form-data", nil),
            ("multipart/mixed; boundary=abc", nil),
            ("application/json", nil),
            ("", nil),
            ("multipart/form-data; boundary=" + String(repeating: "x", count: 201), nil),
            ("multipart/form-data; boundary=" + String(repeating: "x", count: 200), String(repeating: "x", count: 200)),
        ]
        for (contentType, expected) in cases {
            XCTAssertEqual(MultipartModelScanner.boundary(fromContentType: contentType), expected, contentType)
            XCTAssertEqual(MultipartModelScanner(contentType: contentType) != nil, expected != nil, contentType)
        }
    }

    func testQuotedBoundaryWithASemicolonInsideIsReadWhole() {
        // A `;` inside quotes does not end the parameter (RFC 9110 §5.6.6), as form parsers read it.
        let boundary = MultipartModelScanner.boundary(fromContentType: "multipart/form-data; boundary=\"a;b\"")
        XCTAssertEqual(boundary, "a;b")
    }

    /// Whatever form parsers could read as another boundary is refused, not guessed: foap would find one `model`
    /// part and the upstream another.
    func testAmbiguousBoundariesAreToldApartFromOtherTypes() {
        let cases: [(String, MultipartHeaderReading.ContentType)] = [
            ("multipart/form-data; boundary=BB; boundary=AA", .ambiguous),
            ("multipart/form-data; boundary=BB; BOUNDARY=\"AA\"", .ambiguous),
            ("multipart/form-data; boundary*=UTF-8''AA; boundary=BB", .ambiguous),
            ("multipart/form-data; boundary=\"a\\\"b\"", .ambiguous),
            ("multipart/form-data; boundary=\"open", .ambiguous),
            ("multipart/form-data; boundary=a\"b", .ambiguous),
            ("multipart/form-data; boundary=abc junk", .ambiguous),
            ("multipart/form-data; boundary", .ambiguous),
            ("multipart/form-data", .ambiguous),
            ("multipart/form-data; boundary=", .ambiguous),
            ("multipart/form-data; boundary=abc;", .boundary("abc")),
            ("multipart/form-data; charset=\"x;boundary=y\"; boundary=abc", .boundary("abc")),
            ("multipart/mixed; boundary=abc; boundary=def", .notMultipart),
            ("multipart/form\rdata; boundary=abc", .notMultipart),
            ("application/json", .notMultipart),
        ]
        for (contentType, expected) in cases {
            XCTAssertEqual(MultipartHeaderReading.contentType(contentType), expected, contentType)
        }
    }

    func testFindsTheModelFieldAndItsValueRange() throws {
        var form = MultipartBody()
        form.field("model", "whisper-1")
        form.file("file", filename: "a.wav", contentType: "audio/wav", bytes: MultipartBody.trickyBytes(count: 300))
        let bytes = form.bytes
        var scanner = try XCTUnwrap(MultipartModelScanner(contentType: form.contentType))
        guard case .found(let field) = scanner.scan(ByteBuffer(bytes: bytes), isComplete: true) else {
            return XCTFail("model not found")
        }
        XCTAssertEqual(field.model, "whisper-1")
        XCTAssertEqual(String(decoding: bytes[field.valueRange], as: UTF8.self), "whisper-1")
    }

    func testModelAfterFilePartsAndRepeatedFields() throws {
        var form = MultipartBody()
        form.file("image[]", filename: "a.png", contentType: "image/png", bytes: MultipartBody.trickyBytes(count: 500))
        form.file(
            "image[]", filename: "b.png", contentType: "image/png", bytes: MultipartBody.trickyBytes(count: 77, seed: 3)
        )
        form.field("prompt", "a cat\r\nwith --dashes")
        form.field("model", "org/image-model")
        let bytes = form.bytes
        var scanner = try XCTUnwrap(MultipartModelScanner(contentType: form.contentType))
        guard case .found(let field) = scanner.scan(ByteBuffer(bytes: bytes), isComplete: true) else {
            return XCTFail("model not found")
        }
        XCTAssertEqual(field.model, "org/image-model")
        XCTAssertEqual(String(decoding: bytes[field.valueRange], as: UTF8.self), "org/image-model")
    }

    func testPreambleBeforeTheFirstDelimiterIsSkipped() throws {
        var form = MultipartBody()
        form.preamble = "This is a preamble.\r\n"
        form.field("model", "m")
        var scanner = try XCTUnwrap(MultipartModelScanner(contentType: form.contentType))
        guard case .found(let field) = scanner.scan(form.buffer, isComplete: true) else { return XCTFail() }
        XCTAssertEqual(field.model, "m")
    }

    func testDelimiterThatDoesNotStartALineIsMalformed() throws {
        var form = MultipartBody()
        form.preamble = "junk"  // no CRLF before the first delimiter
        form.field("model", "m")
        var scanner = try XCTUnwrap(MultipartModelScanner(contentType: form.contentType))
        XCTAssertEqual(scanner.scan(form.buffer, isComplete: true), .malformed)
    }

    func testNoModelFieldAndTruncatedBodies() throws {
        var form = MultipartBody()
        form.field("prompt", "x")
        form.file("file", filename: "a.wav", contentType: "audio/wav", bytes: [1, 2, 3])
        var scanner = try XCTUnwrap(MultipartModelScanner(contentType: form.contentType))
        XCTAssertEqual(scanner.scan(form.buffer, isComplete: true), .noModelField)

        var withModel = MultipartBody()
        withModel.field("model", "m")
        let truncated = Array(withModel.bytes.prefix(60))
        var second = try XCTUnwrap(MultipartModelScanner(contentType: withModel.contentType))
        XCTAssertEqual(second.scan(ByteBuffer(bytes: truncated), isComplete: false), .needMoreData)
        XCTAssertEqual(second.scan(ByteBuffer(bytes: truncated), isComplete: true), .malformed)
        var third = try XCTUnwrap(MultipartModelScanner(contentType: withModel.contentType))
        XCTAssertEqual(third.scan(ByteBuffer(string: "no delimiter at all"), isComplete: true), .malformed)
        var empty = try XCTUnwrap(MultipartModelScanner(contentType: withModel.contentType))
        XCTAssertEqual(empty.scan(ByteBuffer(), isComplete: true), .malformed)
    }

    func testEmptyModelValue() throws {
        var form = MultipartBody()
        form.field("model", "")
        form.field("x", "y")
        var scanner = try XCTUnwrap(MultipartModelScanner(contentType: form.contentType))
        guard case .found(let field) = scanner.scan(form.buffer, isComplete: true) else { return XCTFail() }
        XCTAssertEqual(field.model, "")
        XCTAssertTrue(field.valueRange.isEmpty)
    }

    func testFieldNameParsing() {
        let cases: [(String, MultipartHeaderReading.PartName)] = [
            ("Content-Disposition: form-data; name=\"model\"", .named("model")),
            ("content-disposition:form-data;name=model", .named("model")),
            ("CONTENT-DISPOSITION:  form-data ;  name=\"model\" ; filename=\"x\"", .named("model")),
            ("Content-Type: text/plain\r\nContent-Disposition: form-data; name=\"model\"", .named("model")),
            ("Content-Disposition: form-data; filename=\"model\"; name=\"file\"", .named("file")),
            ("Content-Disposition: form-data; filename=\"a;name=model.wav\"; name=\"file\"", .named("file")),
            ("Content-Disposition: form-data; name = \"model\"", .named("model")),
            ("Content-Disposition: form-data; filename=\"model\"", .unnamed),
            ("Content-Type: text/plain", .unnamed),
            ("", .unnamed),
            // What one form parser reads as `model` and another does not.
            ("Content-Disposition: form-data; name=\"x\"; name=\"model\"", .ambiguous),
            ("Content-Disposition: form-data; NAME=\"x\"; name=model", .ambiguous),
            ("Content-Disposition: form-data; name*=UTF-8''model", .ambiguous),
            ("Content-Disposition: form-data; name=\"x\"; name*=UTF-8''model", .ambiguous),
            ("Content-Disposition: form-data; name=\"x\"\r\nContent-Disposition: form-data; name=\"model\"", .ambiguous),
            ("Content-Disposition: form-data;\r\n name=\"model\"", .ambiguous),
            ("Content-Disposition: form-data; name=\"mo\\del\"", .ambiguous),
            ("Content-Disposition: form-data; name=\"model", .ambiguous),
            ("Content-Disposition: form-data; name", .ambiguous),
            ("Content-Disposition: form-data; name=\"model\"x", .ambiguous),
        ]
        for (headers, expected) in cases {
            let name = Array(headers.utf8).withUnsafeBytes { MultipartHeaderReading.partName(inHeaders: $0) }
            XCTAssertEqual(name, expected, headers)
        }
    }

    /// A part the scanner cannot name one way only stops the scan, before or instead of the `model` part.
    func testAnAmbiguousPartBeforeTheModelStopsTheScan() throws {
        var form = MultipartBody()
        form.field("x", "premium")
        form.parts[0].disposition = "Content-Disposition: form-data; name=\"x\"; name=\"model\""
        form.field("model", "cheap")
        var scanner = try XCTUnwrap(MultipartModelScanner(contentType: form.contentType))
        XCTAssertEqual(scanner.scan(form.buffer, isComplete: true), .ambiguousPart)
    }

    func testAFilenameCalledModelDoesNotMakeAPartTheModel() throws {
        var form = MultipartBody()
        form.file("file", filename: "model", contentType: "audio/wav", bytes: Array("not-a-model".utf8))
        form.field("model", "real")
        var scanner = try XCTUnwrap(MultipartModelScanner(contentType: form.contentType))
        guard case .found(let field) = scanner.scan(form.buffer, isComplete: true) else { return XCTFail() }
        XCTAssertEqual(field.model, "real")
    }

    /// Every split point, fresh scanner: the model is reported exactly when its closing delimiter has arrived.
    func testSplitAtEveryByteBoundaryWithAFreshScanner() throws {
        for form in Self.smallForms() {
            let bytes = form.bytes
            var reference = try XCTUnwrap(MultipartModelScanner(contentType: form.contentType))
            guard case .found(let expected) = reference.scan(ByteBuffer(bytes: bytes), isComplete: true) else {
                return XCTFail("model not found in the whole body")
            }
            let ready = expected.valueRange.upperBound + 2 + 2 + form.boundary.utf8.count
            for split in 0...bytes.count {
                var scanner = try XCTUnwrap(MultipartModelScanner(contentType: form.contentType))
                let result = scanner.scan(ByteBuffer(bytes: bytes.prefix(split)), isComplete: false)
                XCTAssertEqual(result, split >= ready ? .found(expected) : .needMoreData, "split at \(split)")
            }
        }
    }

    /// One scanner fed the growing body one byte at a time, as the exchange does: resuming must not skip a part.
    func testByteByByteWithOneScanner() throws {
        for form in Self.smallForms() {
            let bytes = form.bytes
            var scanner = try XCTUnwrap(MultipartModelScanner(contentType: form.contentType))
            var found: MultipartModelField?
            var held = ByteBuffer()
            for byte in bytes {
                held.writeInteger(byte)
                let result = scanner.scan(held, isComplete: false)
                if case .found(let field) = result {
                    found = field
                    break
                }
                XCTAssertEqual(result, .needMoreData)
            }
            let field = try XCTUnwrap(found)
            XCTAssertEqual(field.model, "gpt-4o-transcribe")
            XCTAssertEqual(String(decoding: bytes[field.valueRange], as: UTF8.self), "gpt-4o-transcribe")
        }
    }

    /// Splits into two reads at every point, then the whole body in a second scan on the same scanner.
    func testTwoReadsAtEveryBoundaryWithOneScanner() throws {
        for form in Self.smallForms() {
            let bytes = form.bytes
            for split in 0...bytes.count {
                var scanner = try XCTUnwrap(MultipartModelScanner(contentType: form.contentType))
                _ = scanner.scan(ByteBuffer(bytes: bytes.prefix(split)), isComplete: false)
                guard case .found(let field) = scanner.scan(ByteBuffer(bytes: bytes), isComplete: true) else {
                    return XCTFail("split at \(split): model not found")
                }
                XCTAssertEqual(field.model, "gpt-4o-transcribe", "split at \(split)")
            }
        }
    }

    func testNoModelFieldIsOnlyDecidedAtTheClosingDelimiter() throws {
        var form = MultipartBody(boundary: "b")
        form.field("prompt", "p")
        let bytes = form.bytes
        for split in 0..<bytes.count {
            var scanner = try XCTUnwrap(MultipartModelScanner(contentType: form.contentType))
            let result = scanner.scan(ByteBuffer(bytes: bytes.prefix(split)), isComplete: false)
            // `--b--` ends the body; until both trailing dashes are in, more parts may follow.
            let closingEnd = bytes.count - 2
            XCTAssertEqual(result, split >= closingEnd ? .noModelField : .needMoreData, "split at \(split)")
        }
    }

    private static func smallForms() -> [MultipartBody] {
        var first = MultipartBody(boundary: "xYz")
        first.field("model", "gpt-4o-transcribe")
        first.file("file", filename: "a.mp3", contentType: "audio/mpeg", bytes: Array("\r\n--xY\r\n-".utf8))

        var later = MultipartBody(boundary: "----WebKitFormBoundaryAbC")
        later.preamble = "pre\r\n"
        later.file(
            "file", filename: "speech.wav", contentType: "audio/wav", bytes: MultipartBody.trickyBytes(count: 40))
        later.field("timestamp_granularities[]", "word")
        later.field("timestamp_granularities[]", "segment")
        later.field("model", "gpt-4o-transcribe")
        later.field("include[]", "logprobs")
        return [first, later]
    }
}

extension MultipartModelScannerTests {
    /// Before the fix every read searched the held file part again from its start (quadratic: 16 MB took 15 s of
    /// CPU). Now a scanner fed a growing body in small reads gives the answer a whole-body scan gives, and past
    /// `maximumHeldBytes` without a model it refuses instead of holding more.
    func testAModelAfterALargeFilePartIsFoundWhenItArrivesInSmallReads() throws {
        var form = MultipartBody(boundary: "bnd")
        form.file("file", filename: "a.wav", contentType: "audio/wav", bytes: MultipartBody.trickyBytes(count: 200_000))
        form.field("model", "late-model")
        let bytes = form.bytes
        var scanner = try XCTUnwrap(MultipartModelScanner(contentType: form.contentType))
        var held = ByteBuffer()
        var result = MultipartModelScanner.Result.needMoreData
        for start in stride(from: 0, to: bytes.count, by: 997) {
            held.writeBytes(bytes[start..<min(start + 997, bytes.count)])
            result = scanner.scan(held, isComplete: false)
            if result != .needMoreData { break }
        }
        guard case .found(let field) = result else { return XCTFail("\(result)") }
        XCTAssertEqual(field.model, "late-model")
    }

    func testMoreThanTheHeldLimitBeforeTheModelIsModelTooLate() throws {
        var form = MultipartBody(boundary: "bnd")
        form.file(
            "file", filename: "a.wav", contentType: "audio/wav",
            bytes: MultipartBody.trickyBytes(count: MultipartModelScanner.maximumHeldBytes))
        form.field("model", "late-model")
        var scanner = try XCTUnwrap(MultipartModelScanner(contentType: form.contentType))
        let prefix = ByteBuffer(bytes: form.bytes.prefix(MultipartModelScanner.maximumHeldBytes + 1))
        XCTAssertEqual(scanner.scan(prefix, isComplete: false), .modelTooLate)
    }

    func testAnEndlessPartHeaderBlockIsMalformed() throws {
        let header = "--bnd\r\nContent-Disposition: form-data; name=\"file\"\r\nX-Pad: "
        let bytes = Array(header.utf8) + [UInt8](repeating: UInt8(ascii: "a"), count: 20_000)
        var scanner = try XCTUnwrap(MultipartModelScanner(contentType: "multipart/form-data; boundary=bnd"))
        XCTAssertEqual(scanner.scan(ByteBuffer(bytes: bytes), isComplete: false), .malformed)
    }
}
