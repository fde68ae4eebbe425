import NIOCore

/// Builds `multipart/form-data` bodies byte by byte, the way OpenAI SDKs send uploads, so tests can compare what the
/// upstream received with what the client sent.
struct MultipartBody {
    struct Part {
        var name: String
        var filename: String?
        var contentType: String?
        var value: [UInt8]
        /// Raw extra header lines (without CRLF), e.g. `Content-Transfer-Encoding: binary`.
        var extraHeaders: [String] = []
        /// A raw `Content-Disposition` line (without CRLF) in place of the one made from `name` and `filename`.
        var disposition: String?
    }

    var boundary: String
    var parts: [Part] = []
    /// Bytes before the first delimiter (allowed by RFC 2046, ignored by servers).
    var preamble = ""

    init(boundary: String = "----foapTestBoundary7MA4YWxkTrZu0gW") {
        self.boundary = boundary
    }

    var contentType: String { "multipart/form-data; boundary=\(self.boundary)" }

    mutating func field(_ name: String, _ value: String) {
        self.parts.append(Part(name: name, value: Array(value.utf8)))
    }

    mutating func file(_ name: String, filename: String, contentType: String, bytes: [UInt8]) {
        self.parts.append(Part(name: name, filename: filename, contentType: contentType, value: bytes))
    }

    var bytes: [UInt8] {
        var out: [UInt8] = Array(self.preamble.utf8)
        for part in self.parts {
            var head = "--\(self.boundary)\r\n"
            if let disposition = part.disposition {
                head += disposition
            } else {
                head += "Content-Disposition: form-data; name=\"\(part.name)\""
                if let filename = part.filename { head += "; filename=\"\(filename)\"" }
            }
            head += "\r\n"
            if let contentType = part.contentType { head += "Content-Type: \(contentType)\r\n" }
            for line in part.extraHeaders { head += line + "\r\n" }
            head += "\r\n"
            out += Array(head.utf8)
            out += part.value
            out += Array("\r\n".utf8)
        }
        out += Array("--\(self.boundary)--\r\n".utf8)
        return out
    }

    var buffer: ByteBuffer { ByteBuffer(bytes: self.bytes) }

    /// The same body with the `model` part's value replaced: what the upstream must receive.
    func replacingModel(with model: String) -> [UInt8] {
        var copy = self
        for index in copy.parts.indices where copy.parts[index].name == "model" {
            copy.parts[index].value = Array(model.utf8)
        }
        return copy.bytes
    }

    /// Binary test data that contains CR, LF, `--` and the boundary's leading bytes, to catch any scanner that
    /// mistakes file content for structure. Large sizes repeat a block of odd length (fast in debug builds).
    static func trickyBytes(count: Int, seed: UInt8 = 0) -> [UInt8] {
        let motif: [UInt8] = Array("\r\n--\r\n--foap\r\n\r\n\u{0}".utf8) + [0xFF, 0x00, 0x80]
        let blockSize = min(count, 65_521)
        var block: [UInt8] = []
        block.reserveCapacity(blockSize)
        var state = UInt32(seed) &+ 0x9E37_79B9
        while block.count < blockSize {
            state = state &* 1_664_525 &+ 1_013_904_223
            if state % 7 == 0 {
                block += motif.prefix(blockSize - block.count)
            } else {
                block.append(UInt8(truncatingIfNeeded: state >> 24))
            }
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(count)
        while bytes.count < count {
            bytes += block.prefix(count - bytes.count)
        }
        return bytes
    }
}
