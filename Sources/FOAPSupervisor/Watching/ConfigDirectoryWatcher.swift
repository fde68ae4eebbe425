#if canImport(Glibc)
import Glibc
#endif

import FOAPWorkerChannel

/// Tells the master when the config directory (or an extra watched file) may have changed.
///
/// inotify on the directory, never on files: editors write a temp file and rename it over the old one, Kubernetes
/// swaps a `..data` symlink, tools delete and re-create. The parent directory is watched too (filtered by name), so
/// the config directory itself being replaced, deleted or created later is seen. An event never says enough on its
/// own: the caller debounces and rescans the whole config, comparing digests. When the kernel drops the watch or the
/// event queue overflows, `rewatch()` re-creates every watch; the caller rescans as well.
///
/// A config file that is a symlink to a file elsewhere (`/etc/foap/conf.d/a.json -> /srv/shared/a.json`) changes
/// where the target lives, so the target's directory is watched too, filtered by the target's name; when a symlink
/// is added, removed or pointed elsewhere, the watches follow it.
final class ConfigDirectoryWatcher {
    /// What a batch of events means to the master.
    struct Change: Equatable {
        /// Something the config depends on may have changed: debounce, then rescan.
        var relevant = false
        /// A watch is gone (IN_IGNORED, IN_DELETE_SELF, IN_MOVE_SELF) or events were lost (IN_Q_OVERFLOW), or the
        /// watched directory was (re)created: call `rewatch()`.
        var needsRewatch = false
    }

    private enum Watch {
        /// The config directory: every entry in it matters.
        case directory
        /// A parent directory: only events about these names matter.
        case parent(names: Set<String>)
    }

    /// The inotify descriptor to poll for reading (non-blocking, close-on-exec).
    let fd: Int32
    private let directory: String
    private let extraPaths: [String]
    private var watches: [Int32: Watch] = [:]
    /// The resolved targets of the config files that are symlinks, as watched now.
    private var symlinkTargets: Set<String> = []

    private static let directoryMask: UInt32 =
        UInt32(IN_CREATE | IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_DELETE_SELF | IN_MOVE_SELF)
        | UInt32(IN_ATTRIB) | UInt32(IN_ONLYDIR)
    private static let parentMask: UInt32 =
        UInt32(IN_CREATE | IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_ATTRIB | IN_DELETE_SELF)
        | UInt32(IN_MOVE_SELF) | UInt32(IN_ONLYDIR)

    /// - Parameters:
    ///   - directory: the config directory; it need not exist yet (its parent is watched for it).
    ///   - extraPaths: further files (e.g. a key file); their parent directories are watched, filtered by name.
    init(directory: String, extraPaths: [String]) throws {
        let fd = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        guard fd >= 0 else {
            throw SystemCallError("inotify_init1")
        }
        self.fd = fd
        self.directory = Self.trimmingTrailingSlashes(directory)
        self.extraPaths = extraPaths
        self.rewatch()
    }

    deinit {
        close(self.fd)
    }

    /// Drops every watch and adds them again: after a watch was lost, or the directory was replaced or created.
    func rewatch() {
        for descriptor in self.watches.keys {
            inotify_rm_watch(self.fd, descriptor)
        }
        self.watches = [:]
        var parents: [String: Set<String>] = [:]
        self.symlinkTargets = self.currentSymlinkTargets()
        for path in [self.directory] + self.extraPaths + self.symlinkTargets.sorted() {
            let (parent, name) = Self.split(path)
            parents[parent, default: []].insert(name)
        }
        for (parent, names) in parents.sorted(by: { $0.key < $1.key }) {
            let descriptor = inotify_add_watch(self.fd, parent, Self.parentMask)
            if descriptor >= 0 {
                self.watches[descriptor] = .parent(names: names)
            }
        }
        // Added last so that, should the parent and the directory be the same inode (never in practice), the
        // unfiltered directory watch wins.
        let descriptor = inotify_add_watch(self.fd, self.directory, Self.directoryMask)
        if descriptor >= 0 {
            self.watches[descriptor] = .directory
        }
    }

    /// The resolved targets of the directory's visible `*.json` entries that are symlinks to files outside it.
    private func currentSymlinkTargets() -> Set<String> {
        guard let resolvedDirectory = realpath(self.directory, nil) else { return [] }
        let inside = String(cString: resolvedDirectory) + "/"
        free(resolvedDirectory)
        guard let stream = opendir(self.directory) else { return [] }
        defer { closedir(stream) }
        var targets: Set<String> = []
        while let entry = readdir(stream) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { bytes in
                String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
            }
            guard name.hasSuffix(".json"), !name.hasPrefix(".") else { continue }
            let path = self.directory + "/" + name
            var status = stat()
            guard lstat(path, &status) == 0, status.st_mode & S_IFMT == S_IFLNK,
                let resolved = realpath(path, nil)
            else { continue }
            let target = String(cString: resolved)
            free(resolved)
            if !target.hasPrefix(inside) {
                targets.insert(target)
            }
        }
        return targets
    }

    /// Reads every queued event (non-blocking) and sums up what they mean.
    func readEvents() -> Change {
        var change = Change()
        var directoryChanged = false
        let capacity = 64 * 1024
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 8)
        defer { buffer.deallocate() }
        while true {
            let count = retryingOnInterrupt { read(self.fd, buffer, capacity) }
            guard count > 0 else {
                // An entry added, removed or re-pointed may be a symlink whose target must be watched (or no longer).
                if directoryChanged, !change.needsRewatch, self.currentSymlinkTargets() != self.symlinkTargets {
                    change.needsRewatch = true
                }
                return change
            }
            var offset = 0
            while offset + MemoryLayout<inotify_event>.size <= count {
                let event = buffer.load(fromByteOffset: offset, as: inotify_event.self)
                let nameStart = buffer + offset + MemoryLayout<inotify_event>.size
                let name = event.len > 0 ? Self.string(nameStart, maximumLength: Int(event.len)) : ""
                self.classify(descriptor: event.wd, mask: event.mask, name: name, into: &change)
                if case .directory = self.watches[event.wd] {
                    directoryChanged = true
                }
                offset += MemoryLayout<inotify_event>.size + Int(event.len)
            }
        }
    }

    private func classify(descriptor: Int32, mask: UInt32, name: String, into change: inout Change) {
        if mask & UInt32(IN_Q_OVERFLOW) != 0 {
            change.relevant = true
            change.needsRewatch = true
            return
        }
        let lost = UInt32(IN_IGNORED) | UInt32(IN_DELETE_SELF) | UInt32(IN_MOVE_SELF)
        switch self.watches[descriptor] {
        case .directory:
            change.relevant = true
            change.needsRewatch = change.needsRewatch || mask & lost != 0
        case .parent(let names):
            if mask & lost != 0 {
                change.relevant = true
                change.needsRewatch = true
            } else if names.contains(name) || name.hasPrefix("..") {
                // `..data` and `..<timestamp>`: Kubernetes swaps a symlink that the watched file resolves through,
                // and the event names the symlink, not the file. A spurious rescan costs one digest comparison.
                change.relevant = true
                // The config directory itself was created, replaced or renamed: its watch must follow.
                change.needsRewatch = change.needsRewatch || name == Self.split(self.directory).name
            }
        case nil:
            // A watch removed by `rewatch()`: its final IN_IGNORED needs nothing more.
            break
        }
    }

    static func split(_ path: String) -> (parent: String, name: String) {
        let trimmed = Self.trimmingTrailingSlashes(path)
        guard let slash = trimmed.lastIndex(of: "/") else {
            return (".", trimmed)
        }
        let parent = String(trimmed[..<slash])
        return (parent.isEmpty ? "/" : parent, String(trimmed[trimmed.index(after: slash)...]))
    }

    private static func trimmingTrailingSlashes(_ path: String) -> String {
        var path = path
        while path.count > 1 && path.hasSuffix("/") {
            path.removeLast()
        }
        return path
    }

    private static func string(_ start: UnsafeMutableRawPointer, maximumLength: Int) -> String {
        let bytes = UnsafeRawBufferPointer(start: start, count: maximumLength)
        return String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
    }
}
