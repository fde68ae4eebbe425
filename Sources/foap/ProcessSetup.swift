#if canImport(Glibc)
import Glibc
#endif

/// Process-wide settings every foap process applies first.
enum ProcessSetup {
    /// A closed stdout (a log pipe whose reader died) or a peer that went away must surface as EPIPE on that one
    /// write, not kill the whole process with SIGPIPE. NIO protects its sockets, but the master has no NIO and the
    /// log sink writes to stdout from every process.
    static func ignoreBrokenPipes() {
        signal(SIGPIPE, SIG_IGN)
    }
}
