#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import NIOCore

/// The `model` form field of a multipart body: its value and where the value's bytes are in the held prefix.
public struct MultipartModelField: Sendable, Equatable {
    public var model: String
    /// Byte range of the value, relative to the start of the body.
    public var valueRange: Range<Int>
}

/// Finds the `model` field of a `multipart/form-data` body while the body is still arriving.
///
/// Uploads (audio, images) are streamed to the upstream, but the upstream is chosen by `model`, so the proxy holds
/// the body only until the `model` part is complete (SDKs send form fields before files, so that is usually the first
/// few hundred bytes), rewrites that one value, and streams everything after it untouched. Every other part,
/// repeated fields and file parts keep their bytes, names, filenames and content types.
public struct MultipartModelScanner: Sendable {
    public enum Result: Sendable, Equatable {
        case needMoreData
        case found(MultipartModelField)
        /// The closing delimiter came before any `model` field.
        case noModelField
        case malformed
        /// A part's `Content-Disposition` that form parsers could read differently (`MultipartHeaderReading`).
        case ambiguousPart
        /// More than `maximumHeldBytes` arrived before a `model` part: the model must come before the files.
        case modelTooLate
    }

    private let delimiter: [UInt8]
    /// `CRLF` + delimiter: how a part's value ends.
    private let valueTerminator: [UInt8]
    /// Where the scan stands: each read continues from here instead of searching the held bytes again, so holding a
    /// large file part before `model` costs one pass over its bytes, not one pass per read.
    private var phase = Phase.preamble
    /// Where the pending search resumes: everything before it was searched already.
    private var searchFrom = 0

    /// How much of a body is held while its `model` part has not arrived; past it the request is refused.
    public static let maximumHeldBytes = 1024 * 1024
    /// The longest part header block accepted (every header of one part, not its value).
    public static let maximumPartHeaderBytes = 16 * 1024

    private enum Phase {
        /// Before the first delimiter (a preamble may come first).
        case preamble
        /// The part whose delimiter starts at `delimiterAt`: reading its header block.
        case partHeaders(delimiterAt: Int)
        /// Reading the value of a part that starts at `valueStart`.
        case partValue(valueStart: Int, isModel: Bool)
    }

    /// - Parameter contentType: the request's `Content-Type`; nil unless it is multipart/form-data with one usable
    ///   boundary (`MultipartHeaderReading.contentType` tells an ambiguous one apart).
    public init?(contentType: String) {
        guard let boundary = Self.boundary(fromContentType: contentType) else { return nil }
        self.init(boundary: boundary)
    }

    init(boundary: String) {
        self.delimiter = Array("--\(boundary)".utf8)
        self.valueTerminator = crlf + self.delimiter
    }

    /// What watches the rest of the body once `model` was found (a second `model` part must not pass).
    func duplicateModelDetector(fromBodyStart: Bool = false) -> MultipartDuplicateModelDetector {
        MultipartDuplicateModelDetector(delimiter: self.delimiter, fromBodyStart: fromBodyStart)
    }

    static func boundary(fromContentType contentType: String) -> String? {
        guard case .boundary(let boundary) = MultipartHeaderReading.contentType(contentType) else { return nil }
        return boundary
    }

    /// Scans `body` (the bytes received so far, from the start of the body) for a complete `model` part.
    /// - Parameter isComplete: true once the whole body has arrived (a missing part is then final).
    public mutating func scan(_ body: ByteBuffer, isComplete: Bool) -> Result {
        let result: Result = body.withUnsafeReadableBytes { bytes in
            self.scan(bytes)
        }
        switch result {
        case .found(let field) where field.valueRange.upperBound > Self.maximumHeldBytes:
            // Decided by where the part is, not by how reads happened to cut the body.
            return .modelTooLate
        case .needMoreData:
            if isComplete {
                return .malformed
            }
            return body.readableBytes > Self.maximumHeldBytes ? .modelTooLate : .needMoreData
        default:
            return result
        }
    }

    private mutating func scan(_ bytes: UnsafeRawBufferPointer) -> Result {
        while true {
            switch self.phase {
            case .preamble:
                guard let first = find(self.delimiter, in: bytes, from: self.searchFrom) else {
                    self.searchFrom = max(0, bytes.count - self.delimiter.count + 1)
                    return .needMoreData
                }
                guard first == 0 || (first >= 2 && bytes[first - 2] == 0x0D && bytes[first - 1] == 0x0A) else {
                    return .malformed
                }
                self.phase = .partHeaders(delimiterAt: first)
            case .partHeaders(let delimiterAt):
                let afterDelimiter = delimiterAt + self.delimiter.count
                guard afterDelimiter + 2 <= bytes.count else { return .needMoreData }
                if bytes[afterDelimiter] == UInt8(ascii: "-") && bytes[afterDelimiter + 1] == UInt8(ascii: "-") {
                    return .noModelField
                }
                let from = max(afterDelimiter, self.searchFrom)
                guard let headersEnd = find(crlfcrlf, in: bytes, from: from) else {
                    if bytes.count - afterDelimiter > Self.maximumPartHeaderBytes {
                        return .malformed
                    }
                    self.searchFrom = max(afterDelimiter, bytes.count - crlfcrlf.count + 1)
                    return .needMoreData
                }
                let headers = UnsafeRawBufferPointer(rebasing: bytes[afterDelimiter..<headersEnd])
                let name = MultipartHeaderReading.partName(inHeaders: headers)
                guard name != .ambiguous else { return .ambiguousPart }
                let valueStart = headersEnd + 4
                self.phase = .partValue(valueStart: valueStart, isModel: name == .named("model"))
                self.searchFrom = valueStart - 2
            case .partValue(let valueStart, let isModel):
                guard let next = find(self.valueTerminator, in: bytes, from: max(valueStart - 2, self.searchFrom))
                else {
                    self.searchFrom = max(valueStart - 2, bytes.count - self.valueTerminator.count + 1)
                    return .needMoreData
                }
                let valueEnd = max(next, valueStart)
                if isModel {
                    let value = String(
                        decoding: UnsafeRawBufferPointer(rebasing: bytes[valueStart..<valueEnd]), as: UTF8.self)
                    return .found(MultipartModelField(model: value, valueRange: valueStart..<valueEnd))
                }
                self.phase = .partHeaders(delimiterAt: next + 2)
                self.searchFrom = 0
            }
        }
    }
}

let crlf: [UInt8] = [0x0D, 0x0A]
let crlfcrlf: [UInt8] = [0x0D, 0x0A, 0x0D, 0x0A]

/// First index of `needle` in `haystack` at or after `start`. memchr finds candidates for the first byte, so the
/// scan over held upload bytes runs at memory speed (glibc's memmem is not exported to Swift without _GNU_SOURCE).
func find(_ needle: [UInt8], in haystack: UnsafeRawBufferPointer, from start: Int) -> Int? {
    guard let first = needle.first, start >= 0, let base = haystack.baseAddress else { return nil }
    let lastStart = haystack.count - needle.count
    var position = start
    while position <= lastStart {
        guard let hit = memchr(base + position, Int32(first), lastStart - position + 1) else { return nil }
        let candidate = base.distance(to: UnsafeRawPointer(hit))
        var matches = true
        for offset in 1..<needle.count where haystack[candidate + offset] != needle[offset] {
            matches = false
            break
        }
        if matches { return candidate }
        position = candidate + 1
    }
    return nil
}

extension StringProtocol {
    func trimmingSpaces() -> String {
        var slice = Substring(self)
        while let first = slice.first, first == " " || first == "\t" { slice = slice.dropFirst() }
        while let last = slice.last, last == " " || last == "\t" { slice = slice.dropLast() }
        return String(slice)
    }
}
