import NIOCore
import XCTest

@testable import FOAPProxy

/// The watch over what streams upstream after `model`: a second `model` part is found wherever reads cut the body,
/// and nothing else is ever taken for one.
final class MultipartDuplicateModelDetectorTests: XCTestCase {
    /// The bytes after the first `model` value, as the exchange feeds them to the detector.
    private func rest(of form: MultipartBody) throws -> (bytes: [UInt8], detector: MultipartDuplicateModelDetector) {
        let bytes = form.bytes
        var scanner = try XCTUnwrap(MultipartModelScanner(contentType: form.contentType))
        guard case .found(let field) = scanner.scan(ByteBuffer(bytes: bytes), isComplete: true) else {
            throw XCTSkip("no model")
        }
        return (Array(bytes[field.valueRange.upperBound...]), scanner.duplicateModelDetector())
    }

    private func verdict(_ detector: MultipartDuplicateModelDetector, _ bytes: [UInt8], splits: [Int])
        -> MultipartDuplicateModelDetector.Verdict
    {
        var detector = detector
        var start = 0
        for end in splits + [bytes.count] where end >= start {
            let verdict = detector.inspect(ByteBuffer(bytes: bytes[start..<end]))
            if verdict != .clean { return verdict }
            start = end
        }
        return .clean
    }

    private static func forms() -> [(MultipartBody, MultipartDuplicateModelDetector.Verdict)] {
        var duplicate = MultipartBody(boundary: "xYz")
        duplicate.field("model", "cheap")
        duplicate.file("file", filename: "a.wav", contentType: "audio/wav", bytes: Array("\r\n--xY\r\n--xYzz".utf8))
        duplicate.field("model", "premium")

        var filenameOnly = MultipartBody(boundary: "xYz")
        filenameOnly.field("model", "cheap")
        filenameOnly.file("file", filename: "model", contentType: "audio/wav", bytes: MultipartBody.trickyBytes(count: 50))
        filenameOnly.field("modelx", "y")
        filenameOnly.field("language", "model")

        var modelAsAFile = MultipartBody(boundary: "----WebKitFormBoundaryAbC")
        modelAsAFile.field("model", "cheap")
        modelAsAFile.file("model", filename: "m.txt", contentType: "text/plain", bytes: Array("premium".utf8))
        var spacedName = MultipartBody(boundary: "xYz")
        spacedName.field("model", "cheap")
        spacedName.field("model", "premium")
        spacedName.parts[1].disposition = "Content-Disposition: form-data; name = \"model\""

        var repeatedName = MultipartBody(boundary: "xYz")
        repeatedName.field("model", "cheap")
        repeatedName.field("x", "premium")
        repeatedName.parts[1].disposition = "Content-Disposition: form-data; name=\"x\"; name=\"model\""

        var encodedName = MultipartBody(boundary: "xYz")
        encodedName.field("model", "cheap")
        encodedName.field("x", "premium")
        encodedName.parts[1].disposition = "Content-Disposition: form-data; name*=UTF-8''model"
        return [
            (duplicate, .duplicateModel), (filenameOnly, .clean), (modelAsAFile, .duplicateModel),
            (spacedName, .duplicateModel), (repeatedName, .ambiguousPart), (encodedName, .ambiguousPart),
        ]
    }

    func testWholeBody() throws {
        for (form, expected) in Self.forms() {
            let (bytes, detector) = try self.rest(of: form)
            XCTAssertEqual(self.verdict(detector, bytes, splits: []), expected)
        }
    }

    func testEverySplitIntoTwoReads() throws {
        for (form, expected) in Self.forms() {
            let (bytes, detector) = try self.rest(of: form)
            for split in 0...bytes.count {
                XCTAssertEqual(self.verdict(detector, bytes, splits: [split]), expected, "split at \(split)")
            }
        }
    }

    func testByteByByte() throws {
        for (form, expected) in Self.forms() {
            let (bytes, detector) = try self.rest(of: form)
            XCTAssertEqual(self.verdict(detector, bytes, splits: Array(0..<bytes.count)), expected)
        }
    }

    func testTheEpilogueIsNotInspected() throws {
        var form = MultipartBody(boundary: "b")
        form.field("model", "cheap")
        var (bytes, detector) = try self.rest(of: form)
        bytes += Array("--b\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\npremium\r\n".utf8)
        XCTAssertEqual(detector.inspect(ByteBuffer(bytes: bytes)), .clean)
    }

    func testAnEndlessPartHeaderBlockIsMalformed() throws {
        var form = MultipartBody(boundary: "b")
        form.field("model", "cheap")
        var (bytes, detector) = try self.rest(of: form)
        bytes.removeLast("--b--\r\n".utf8.count)
        bytes += Array("--b\r\nX-Pad: ".utf8)
        XCTAssertEqual(detector.inspect(ByteBuffer(bytes: bytes)), .clean)
        let pad = [UInt8](repeating: UInt8(ascii: "a"), count: MultipartModelScanner.maximumPartHeaderBytes)
        XCTAssertEqual(detector.inspect(ByteBuffer(bytes: pad)), .malformed)
    }
}
