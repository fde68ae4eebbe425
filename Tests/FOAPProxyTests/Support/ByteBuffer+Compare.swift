import Foundation
import NIOCore

extension ByteBuffer {
    /// Whether the readable bytes equal `bytes`. memcmp, because element-wise comparison of megabytes in a debug
    /// build takes seconds.
    func hasSameBytes(as bytes: [UInt8]) -> Bool {
        guard self.readableBytes == bytes.count else { return false }
        return self.withUnsafeReadableBytes { mine in
            bytes.withUnsafeBytes { theirs in
                bytes.isEmpty || memcmp(mine.baseAddress!, theirs.baseAddress!, bytes.count) == 0
            }
        }
    }
}
