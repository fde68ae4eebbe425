import Foundation
import XCTest

@testable import FOAPSupervisor

#if canImport(Glibc)
import Glibc
#endif

final class ConfigDirectoryWatcherTests: XCTestCase {
    /// Waits (bounded) for the inotify fd to become readable, then reads what the events mean.
    func nextChange(_ watcher: ConfigDirectoryWatcher) -> ConfigDirectoryWatcher.Change {
        var pollFD = pollfd(fd: watcher.fd, events: Int16(POLLIN), revents: 0)
        _ = poll(&pollFD, 1, 10_000)
        return watcher.readEvents()
    }

    func testFileWriteAndRenameInDirectoryAreRelevant() throws {
        let root = TemporaryDirectory()
        let config = root.path + "/conf.d"
        try FileManager.default.createDirectory(atPath: config, withIntermediateDirectories: false)
        let watcher = try ConfigDirectoryWatcher(directory: config, extraPaths: [])
        XCTAssertEqual(watcher.readEvents(), .init())
        try Data("{}".utf8).write(to: URL(fileURLWithPath: config + "/.tmp"))
        XCTAssertTrue(self.nextChange(watcher).relevant)
        XCTAssertEqual(rename(config + "/.tmp", config + "/a.json"), 0)
        XCTAssertEqual(self.nextChange(watcher), .init(relevant: true, needsRewatch: false))
    }

    func testDirectoryReplacedIsSeenAndRewatched() throws {
        let root = TemporaryDirectory()
        let config = root.path + "/conf.d"
        try FileManager.default.createDirectory(atPath: config, withIntermediateDirectories: false)
        let watcher = try ConfigDirectoryWatcher(directory: config, extraPaths: [])
        try FileManager.default.removeItem(atPath: config)
        var change = self.nextChange(watcher)
        XCTAssertTrue(change.relevant)
        XCTAssertTrue(change.needsRewatch)
        watcher.rewatch()
        _ = watcher.readEvents()
        try FileManager.default.createDirectory(atPath: config, withIntermediateDirectories: false)
        change = self.nextChange(watcher)
        XCTAssertTrue(change.relevant && change.needsRewatch)
        watcher.rewatch()
        try Data("{}".utf8).write(to: URL(fileURLWithPath: config + "/b.json"))
        XCTAssertTrue(self.nextChange(watcher).relevant)
    }

    func testExtraFileIsFilteredByName() throws {
        let root = TemporaryDirectory()
        let config = root.path + "/conf.d"
        let secrets = root.path + "/secrets"
        try FileManager.default.createDirectory(atPath: config, withIntermediateDirectories: false)
        try FileManager.default.createDirectory(atPath: secrets, withIntermediateDirectories: false)
        let watcher = try ConfigDirectoryWatcher(directory: config, extraPaths: [secrets + "/keys"])
        try Data("x".utf8).write(to: URL(fileURLWithPath: secrets + "/other"))
        try Data("x".utf8).write(to: URL(fileURLWithPath: secrets + "/keys"))
        XCTAssertTrue(self.nextChange(watcher).relevant)
        // Only the unrelated file changes now: nothing relevant.
        try Data("y".utf8).write(to: URL(fileURLWithPath: secrets + "/other"))
        XCTAssertFalse(self.nextChange(watcher).relevant)
    }

    func testExtraFileBehindAKubernetesDataSymlinkIsSeen() throws {
        let root = TemporaryDirectory()
        let config = root.path + "/conf.d"
        let secrets = root.path + "/secrets"
        try FileManager.default.createDirectory(atPath: config, withIntermediateDirectories: false)
        try FileManager.default.createDirectory(atPath: secrets + "/..v1", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: secrets + "/..v2", withIntermediateDirectories: true)
        XCTAssertEqual(symlink("..v1", secrets + "/..data"), 0)
        XCTAssertEqual(symlink("..data/keys", secrets + "/keys"), 0)
        let watcher = try ConfigDirectoryWatcher(directory: config, extraPaths: [secrets + "/keys"])
        // The kubelet's atomic writer: new `..data_tmp` symlink, renamed over `..data`.
        XCTAssertEqual(symlink("..v2", secrets + "/..data_tmp"), 0)
        XCTAssertEqual(rename(secrets + "/..data_tmp", secrets + "/..data"), 0)
        XCTAssertTrue(self.nextChange(watcher).relevant)
    }

    /// `conf.d/a.json -> ../shared/a.json`: an edit of the target (in place, or `sed -i`'s rename over it) is seen,
    /// though nothing changes inside the config directory; a symlink pointed elsewhere moves the watch.
    func testATargetOfASymlinkedConfigFileIsWatched() throws {
        let root = TemporaryDirectory()
        let config = root.path + "/conf.d"
        let shared = root.path + "/shared"
        let other = root.path + "/other"
        for directory in [config, shared, other] {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
        }
        try Data("{}".utf8).write(to: URL(fileURLWithPath: shared + "/a.json"))
        try Data("{}".utf8).write(to: URL(fileURLWithPath: other + "/a.json"))
        XCTAssertEqual(symlink("../shared/a.json", config + "/a.json"), 0)
        let watcher = try ConfigDirectoryWatcher(directory: config, extraPaths: [])
        try Data(#"{"x":{}}"#.utf8).write(to: URL(fileURLWithPath: shared + "/a.json"))
        XCTAssertEqual(self.nextChange(watcher), .init(relevant: true, needsRewatch: false))
        try Data("{}".utf8).write(to: URL(fileURLWithPath: shared + "/.a.json.tmp"))
        XCTAssertEqual(rename(shared + "/.a.json.tmp", shared + "/a.json"), 0)
        XCTAssertTrue(self.nextChange(watcher).relevant)
        // Another file next to the target is nothing to the config (inotify queues events as the write returns).
        try Data("x".utf8).write(to: URL(fileURLWithPath: shared + "/unrelated.txt"))
        XCTAssertFalse(watcher.readEvents().relevant)
        // Re-pointed: the old target no longer matters, the new one does.
        XCTAssertEqual(unlink(config + "/a.json"), 0)
        XCTAssertEqual(symlink("../other/a.json", config + "/a.json"), 0)
        XCTAssertEqual(self.nextChange(watcher), .init(relevant: true, needsRewatch: true))
        watcher.rewatch()
        _ = watcher.readEvents()
        try Data(#"{"y":{}}"#.utf8).write(to: URL(fileURLWithPath: other + "/a.json"))
        XCTAssertTrue(self.nextChange(watcher).relevant)
        try Data(#"{"z":{}}"#.utf8).write(to: URL(fileURLWithPath: shared + "/a.json"))
        XCTAssertFalse(watcher.readEvents().relevant)
    }

    func testSplitPath() {
        XCTAssertEqual(ConfigDirectoryWatcher.split("/etc/foap/").parent, "/etc")
        XCTAssertEqual(ConfigDirectoryWatcher.split("/etc/foap").name, "foap")
        XCTAssertEqual(ConfigDirectoryWatcher.split("/foap").parent, "/")
        XCTAssertEqual(ConfigDirectoryWatcher.split("foap").parent, ".")
    }
}
