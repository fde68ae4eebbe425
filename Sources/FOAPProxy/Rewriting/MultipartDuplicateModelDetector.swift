import NIOCore

/// Watches the parts of a multipart upload that stream to the upstream after its `model` part was checked and
/// rewritten, and stops the upload if another part is named `model`.
///
/// Only the first `model` part is checked against the client key's scope and rewritten; a second one would reach
/// the upstream as the client wrote it, and form parsers that keep the last value (FastAPI, so vLLM's
/// transcription route) would run that model on the operator's key. The JSON path checks the last `model` and
/// rewrites all of them; an upload cannot be rewritten after its first bytes are gone, so a second `model` part is
/// refused instead.
///
/// It sees each read once: the delimiter is found with memchr over the read in place, and only bytes that may be
/// the start of a delimiter or of a part's header block cut by a read are carried into the next one.
struct MultipartDuplicateModelDetector {
    enum Verdict: Equatable {
        case clean
        case duplicateModel
        /// A part's header block longer than `MultipartModelScanner.maximumPartHeaderBytes`.
        case malformed
        /// A part's `Content-Disposition` that form parsers could read differently (`MultipartHeaderReading`).
        case ambiguousPart

        /// The answer to a body this verdict stops; nil when it may go on.
        var refusal: OpenAIError? {
            switch self {
            case .clean: nil
            case .duplicateModel: .duplicateMultipartModel
            case .malformed: .malformedMultipart
            case .ambiguousPart: .ambiguousMultipartPart
            }
        }
    }

    /// `CRLF--boundary`: the start of every part after the first.
    private let delimiter: [UInt8]
    /// Bytes of the previous read that the next one may complete (a cut delimiter or header block).
    private var carry: [UInt8] = []
    /// Between a delimiter and the blank line that ends that part's headers.
    private var inHeaders = false
    /// The closing delimiter went by: what follows is the epilogue.
    private var closed = false

    /// - Parameters:
    ///   - delimiter: `--` + the body's boundary.
    ///   - fromBodyStart: it watches a whole body (an upload whose model is named outside it), so the first part
    ///     counts too: its delimiter has no CRLF before it, which the carry supplies.
    init(delimiter: [UInt8], fromBodyStart: Bool = false) {
        self.delimiter = crlf + delimiter
        self.carry = fromBodyStart ? crlf : []
    }

    /// Looks at the next bytes of the body, in order.
    mutating func inspect(_ bytes: ByteBuffer) -> Verdict {
        guard !self.closed else { return .clean }
        if self.carry.isEmpty {
            return bytes.withUnsafeReadableBytes { self.process($0) }
        }
        var joined = self.carry
        joined += bytes.readableBytesView
        self.carry = []
        return joined.withUnsafeBytes { self.process($0) }
    }

    private mutating func process(_ bytes: UnsafeRawBufferPointer) -> Verdict {
        var position = 0
        while true {
            if self.inHeaders {
                guard let end = find(crlfcrlf, in: bytes, from: position) else {
                    if bytes.count - position > MultipartModelScanner.maximumPartHeaderBytes {
                        return .malformed
                    }
                    self.carry = Array(bytes[position...])
                    return .clean
                }
                let headers = UnsafeRawBufferPointer(rebasing: bytes[position..<end])
                switch MultipartHeaderReading.partName(inHeaders: headers) {
                case .named("model"): return .duplicateModel
                case .ambiguous: return .ambiguousPart
                case .named, .unnamed: break
                }
                self.inHeaders = false
                position = end + crlfcrlf.count
            } else {
                guard let hit = find(self.delimiter, in: bytes, from: position) else {
                    self.carry = Self.possibleDelimiterStart(in: bytes, from: position, delimiter: self.delimiter)
                    return .clean
                }
                let after = hit + self.delimiter.count
                guard after + 2 <= bytes.count else {
                    self.carry = Array(bytes[hit...])
                    return .clean
                }
                if bytes[after] == UInt8(ascii: "-") && bytes[after + 1] == UInt8(ascii: "-") {
                    self.closed = true
                    return .clean
                }
                self.inHeaders = true
                position = after
            }
        }
    }

    /// The longest tail of `bytes` (at or after `start`) that is a proper prefix of `delimiter`, or nothing.
    private static func possibleDelimiterStart(
        in bytes: UnsafeRawBufferPointer, from start: Int, delimiter: [UInt8]
    ) -> [UInt8] {
        let earliest = max(start, bytes.count - delimiter.count + 1)
        var candidate = earliest
        while candidate < bytes.count {
            let length = bytes.count - candidate
            if bytes[candidate] == delimiter[0],
                (0..<length).allSatisfy({ bytes[candidate + $0] == delimiter[$0] })
            {
                return Array(bytes[candidate...])
            }
            candidate += 1
        }
        return []
    }
}
