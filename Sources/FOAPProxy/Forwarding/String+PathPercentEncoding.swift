extension String {
    /// Percent-encodes characters that cannot appear in a URL path segment.
    func addingPathPercentEncoding() -> String {
        var output = ""
        output.reserveCapacity(self.utf8.count)
        for byte in self.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: "~"):
                output.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                output.unicodeScalars.append("%")
                output.unicodeScalars.append(upperHexDigits[Int(byte >> 4)])
                output.unicodeScalars.append(upperHexDigits[Int(byte & 0xF)])
            }
        }
        return output
    }
}

private let upperHexDigits = Array("0123456789ABCDEF".unicodeScalars)
