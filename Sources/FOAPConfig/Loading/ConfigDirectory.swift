import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The config directory on disk: which files make up the config, and reading them.
///
/// Files are every `*.json` directly inside (not recursive), hidden files skipped, in byte order of their
/// names (as `LC_ALL=C ls`), so the result never depends on `readdir` order or the locale. Symlinks are
/// followed, which is how Kubernetes ConfigMaps look (`a.json -> ..data/a.json`, with `..data` itself a
/// symlink swapped atomically); `..data` is hidden and a directory, so it is never read twice. A visible `*.json`
/// entry that is a directory is listed like a file and fails to read (see ``contents(of:)``).
struct ConfigDirectory: Sendable {
    let path: String

    /// The largest config file read. Real ones are kilobytes; a runaway one (a log or a dump saved as `.json`)
    /// would hold the master in one parse — no control socket, no watchdog ping — for as long as it takes.
    static let maximumFileBytes = 8 * 1024 * 1024

    /// What one listing of the directory holds: the config files, and the names that look like one but are not read.
    struct Listing {
        /// The config file names, sorted.
        var configFiles: [String]
        /// Visible names that end in `.json` in other letter case (`a.JSON`), sorted: never read, so named in a
        /// warning rather than left out without a word.
        var otherCaseJSONNames: [String]
    }

    /// The directory's entries, read once.
    ///
    /// - Throws: ``ConfigError`` naming the directory when it is missing, not a directory or unreadable.
    func listing() throws(ConfigError) -> Listing {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: self.path, isDirectory: &isDirectory) else {
            throw ConfigError(file: self.path, message: "config directory does not exist")
        }
        guard isDirectory.boolValue else {
            throw ConfigError(file: self.path, message: "config directory is not a directory")
        }
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: self.path)
        } catch {
            throw ConfigError(file: self.path, message: "config directory cannot be read")
        }
        // Directories and dangling symlinks stay in the list, so that reading them reports an error instead of
        // silently dropping a file's models.
        let visible = names.filter { !$0.hasPrefix(".") }.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        return Listing(
            configFiles: visible.filter { $0.hasSuffix(".json") },
            otherCaseJSONNames: visible.filter { !$0.hasSuffix(".json") && $0.lowercased().hasSuffix(".json") })
    }

    /// The bytes of config file `name`.
    ///
    /// A directory named `x.json` is an error, not a file to skip: it is what
    /// `docker run -v "$PWD/x.json:/configs/x.json"` creates when the host file is missing, and skipping it would
    /// silently serve without that file's models.
    ///
    /// - Throws: ``ConfigError`` naming the file and why it cannot be read (never its contents).
    func contents(of name: String) throws(ConfigError) -> [UInt8] {
        let url = URL(fileURLWithPath: self.path + "/" + name)
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), isDirectory.boolValue {
            throw ConfigError(
                file: name,
                message: "is a directory, not a config file (a volume mount of a host file that does not exist?)"
            )
        }
        var status = stat()
        if stat(url.path, &status) == 0, status.st_size > Self.maximumFileBytes {
            throw ConfigError(
                file: name,
                message: "is \(status.st_size) bytes, over the \(Self.maximumFileBytes / 1024 / 1024) MiB a config "
                    + "file may have"
            )
        }
        do {
            return Array(try Data(contentsOf: url))
        } catch let error as CocoaError where error.code == .fileReadNoPermission {
            throw ConfigError(file: name, message: "cannot read file: permission denied")
        } catch let error as CocoaError where error.code == .fileReadNoSuchFile {
            throw ConfigError(file: name, message: "cannot read file: no such file (a dangling symlink?)")
        } catch {
            throw ConfigError(file: name, message: "cannot read file")
        }
    }
}
