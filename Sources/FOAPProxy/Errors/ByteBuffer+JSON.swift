import NIOCore

extension ByteBuffer {
    /// Writes `string` as a JSON string literal (quotes included), escaping what RFC 8259 requires.
    mutating func writeJSONString(_ string: String) {
        // Model names and error texts almost never need escaping: one copy instead of a write per byte (the byte
        // loop was ~5,800 instructions per rewritten request body in bench/profile).
        if !string.utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) {
            self.reserveCapacity(minimumWritableBytes: string.utf8.count + 2)
            self.writeInteger(UInt8(ascii: "\""))
            self.writeString(string)
            self.writeInteger(UInt8(ascii: "\""))
            return
        }
        self.writeInteger(UInt8(ascii: "\""))
        for byte in string.utf8 {
            switch byte {
            case UInt8(ascii: "\""): self.writeStaticString("\\\"")
            case UInt8(ascii: "\\"): self.writeStaticString("\\\\")
            case 0x0A: self.writeStaticString("\\n")
            case 0x0D: self.writeStaticString("\\r")
            case 0x09: self.writeStaticString("\\t")
            case 0x00..<0x20:
                self.writeStaticString("\\u00")
                self.writeInteger(lowerHexDigits[Int(byte >> 4)])
                self.writeInteger(lowerHexDigits[Int(byte & 0x0F)])
            default: self.writeInteger(byte)
            }
        }
        self.writeInteger(UInt8(ascii: "\""))
    }
}

private let lowerHexDigits: [UInt8] = Array("0123456789abcdef".utf8)
