import Glibc

/// Recognises the journal stream systemd connects to a service's stdout and stderr.
///
/// systemd exports `JOURNAL_STREAM=<device>:<inode>` (both decimal, see systemd.exec(5)) for the socket it hands
/// the service as output. Comparing it with `fstat` of our own fds is the documented way to know that output
/// really reaches the journal rather than a pipe or file a parent swapped in.
enum JournalStream {
    /// The device and inode of an open file: what `JOURNAL_STREAM` names.
    struct Identity: Hashable, Sendable {
        var device: UInt64
        var inode: UInt64

        init(device: UInt64, inode: UInt64) {
            self.device = device
            self.inode = inode
        }

        /// Parses the `"<device>:<inode>"` form of `JOURNAL_STREAM`; `nil` for anything else.
        init?(parsing text: String) {
            let parts = text.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count == 2, let device = UInt64(parts[0]), let inode = UInt64(parts[1]) else {
                return nil
            }
            self.init(device: device, inode: inode)
        }
    }

    /// The identity of an open file descriptor, or `nil` when it is closed.
    static func identity(ofFileDescriptor fileDescriptor: CInt) -> Identity? {
        var status = stat()
        guard fstat(fileDescriptor, &status) == 0 else {
            return nil
        }
        return Identity(device: UInt64(status.st_dev), inode: UInt64(status.st_ino))
    }
}
