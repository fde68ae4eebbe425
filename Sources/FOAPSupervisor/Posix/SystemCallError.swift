#if canImport(Glibc)
import Glibc
#endif

/// A failed system call: which call, on what, and errno, so a log line says enough to act on.
public struct SystemCallError: Error, CustomStringConvertible, Equatable {
    /// The call that failed, e.g. `bind`.
    public let call: String
    /// errno right after the call.
    public let errno: Int32
    /// What it was called on (an address, a path), if that helps the reader.
    public let context: String

    public init(_ call: String, errno: Int32 = Glibc.errno, context: String = "") {
        self.call = call
        self.errno = errno
        self.context = context
    }

    public var description: String {
        let reason = String(cString: strerror(self.errno))
        return self.context.isEmpty ? "\(self.call): \(reason)" : "\(self.call) \(self.context): \(reason)"
    }
}
