#if canImport(Glibc)
import Glibc
#endif

/// The number of CPUs, the default worker count (process per core, like nginx).
enum ProcessorCount {
    static func online() -> Int {
        max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
    }
}

/// The path of the running binary.
enum ExecutablePath {
    /// Resolves `/proc/self/exe` once, to a path. Workers are spawned from the path (not the open inode), so a new
    /// binary installed at the same path is what the next generation runs.
    static func resolveSelf() -> String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let length = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard length > 0 else {
            return CommandLine.arguments.first ?? "foap"
        }
        var path = String(decoding: buffer[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        // When the binary was replaced while running, the kernel appends " (deleted)"; the path is still right.
        if path.hasSuffix(" (deleted)") {
            path.removeLast(" (deleted)".count)
        }
        return path
    }
}
