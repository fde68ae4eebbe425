import FOAPJSON
import NIOCore

extension ByteBuffer {
    /// Writes `string` as a JSON string literal (quotes included), escaped by the shared `JSONStringEscaping`.
    mutating func writeJSONString(_ string: String) {
        self.reserveCapacity(minimumWritableBytes: string.utf8.count + 2)
        self.writeInteger(UInt8(ascii: "\""))
        JSONStringEscaping.escape(string) { self.writeBytes($0) }
        self.writeInteger(UInt8(ascii: "\""))
    }
}
