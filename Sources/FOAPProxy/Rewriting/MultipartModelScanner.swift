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
    }

    private let delimiter: [UInt8]
    /// Where the next part's delimiter starts, once known: parts before it were already inspected.
    private var resumeOffset = 0

    /// - Parameter contentType: the request's `Content-Type`; nil unless it is multipart/form-data with a boundary.
    public init?(contentType: String) {
        guard let boundary = Self.boundary(fromContentType: contentType) else { return nil }
        self.delimiter = Array("--\(boundary)".utf8)
    }

    static func boundary(fromContentType contentType: String) -> String? {
        // Every JSON request asks too: answer "not multipart" without splitting the header into strings (that
        // cost ~7,000 instructions per request in bench/profile). Case-insensitive `multipart/` (ASCII).
        let prefix = "multipart/".utf8
        let leading = contentType.utf8.drop { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }
        guard leading.count >= prefix.count,
            zip(leading, prefix).allSatisfy({ $0 | 0x20 == $1 || $0 == $1 })
        else { return nil }
        let parts = contentType.split(separator: ";").map { $0.trimmingSpaces() }
        guard let type = parts.first, type.lowercased() == "multipart/form-data" else { return nil }
        for parameter in parts.dropFirst() {
            guard let equals = parameter.firstIndex(of: "=") else { continue }
            guard parameter[..<equals].trimmingSpaces().lowercased() == "boundary" else { continue }
            var value = parameter[parameter.index(after: equals)...].trimmingSpaces()
            if value.hasPrefix("\""), value.hasSuffix("\""), value.count >= 2 {
                value = String(value.dropFirst().dropLast())
            }
            return value.isEmpty || value.utf8.count > 200 ? nil : value
        }
        return nil
    }

    /// Scans `body` (the bytes received so far, from the start of the body) for a complete `model` part.
    /// - Parameter isComplete: true once the whole body has arrived (a missing part is then final).
    public mutating func scan(_ body: ByteBuffer, isComplete: Bool) -> Result {
        let result: Result = body.withUnsafeReadableBytes { bytes in
            self.scan(bytes)
        }
        if result == .needMoreData && isComplete {
            return .malformed
        }
        return result
    }

    private mutating func scan(_ bytes: UnsafeRawBufferPointer) -> Result {
        var position = self.resumeOffset
        if position == 0 {
            // The first delimiter may follow a preamble.
            guard let first = find(self.delimiter, in: bytes, from: 0) else { return .needMoreData }
            guard first == 0 || (first >= 2 && bytes[first - 2] == 0x0D && bytes[first - 1] == 0x0A) else {
                return .malformed
            }
            position = first
            self.resumeOffset = first
        }
        while true {
            let afterDelimiter = position + self.delimiter.count
            guard afterDelimiter + 2 <= bytes.count else { return .needMoreData }
            if bytes[afterDelimiter] == UInt8(ascii: "-") && bytes[afterDelimiter + 1] == UInt8(ascii: "-") {
                return .noModelField
            }
            guard let headersEnd = find(crlfcrlf, in: bytes, from: afterDelimiter) else { return .needMoreData }
            let headers = UnsafeRawBufferPointer(rebasing: bytes[afterDelimiter..<headersEnd])
            let valueStart = headersEnd + 4
            guard let next = find(crlf + self.delimiter, in: bytes, from: valueStart - 2) else {
                return .needMoreData
            }
            let valueEnd = max(next, valueStart)
            if Self.fieldName(inHeaders: headers) == "model" {
                let value = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[valueStart..<valueEnd]), as: UTF8.self)
                return .found(MultipartModelField(model: value, valueRange: valueStart..<valueEnd))
            }
            position = next + 2
            self.resumeOffset = position
        }
    }

    /// The `name` parameter of the part's Content-Disposition header, if any.
    static func fieldName(inHeaders headers: UnsafeRawBufferPointer) -> String? {
        let text = String(decoding: headers, as: UTF8.self)
        for line in text.split(separator: "\r\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            guard line[..<colon].trimmingSpaces().lowercased() == "content-disposition" else { continue }
            for parameter in line[line.index(after: colon)...].split(separator: ";").dropFirst() {
                let pair = parameter.trimmingSpaces()
                guard pair.lowercased().hasPrefix("name=") else { continue }
                var value = pair.dropFirst(5)
                if value.hasPrefix("\""), value.hasSuffix("\""), value.count >= 2 {
                    value = value.dropFirst().dropLast()
                }
                return String(value)
            }
        }
        return nil
    }
}

private let crlf: [UInt8] = [0x0D, 0x0A]
private let crlfcrlf: [UInt8] = [0x0D, 0x0A, 0x0D, 0x0A]

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
