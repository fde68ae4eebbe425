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

    func testSplitPath() {
        XCTAssertEqual(ConfigDirectoryWatcher.split("/etc/foap/").parent, "/etc")
        XCTAssertEqual(ConfigDirectoryWatcher.split("/etc/foap").name, "foap")
        XCTAssertEqual(ConfigDirectoryWatcher.split("/foap").parent, "/")
        XCTAssertEqual(ConfigDirectoryWatcher.split("foap").parent, ".")
    }
}
