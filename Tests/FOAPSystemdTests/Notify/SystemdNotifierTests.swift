import FOAPSystemd
import Foundation
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// sd_notify messages as systemd would receive them: the test binds its own AF_UNIX datagram socket and passes it
/// as NOTIFY_SOCKET (environment variables are set for the test's duration and removed after).
final class SystemdNotifierTests: XCTestCase {
    var socketFD: Int32 = -1
    var socketPath = ""

    override func setUpWithError() throws {
        self.socketPath = NSTemporaryDirectory() + "/foap-notify-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        self.socketFD = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            buffer.copyBytes(from: Array(self.socketPath.utf8) + [0])
        }
        let bound = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(self.socketFD, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        XCTAssertEqual(bound, 0)
        setenv("NOTIFY_SOCKET", self.socketPath, 1)
    }

    override func tearDown() {
        unsetenv("NOTIFY_SOCKET")
        unsetenv("WATCHDOG_USEC")
        unsetenv("WATCHDOG_PID")
        close(self.socketFD)
        unlink(self.socketPath)
    }

    /// Receives one datagram (bounded wait).
    func receive() -> String? {
        var pollFD = pollfd(fd: self.socketFD, events: Int16(POLLIN), revents: 0)
        guard poll(&pollFD, 1, 10_000) == 1 else {
            return nil
        }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = recv(self.socketFD, &buffer, buffer.count, 0)
        return count > 0 ? String(decoding: buffer[0..<count], as: UTF8.self) : nil
    }

    func testNoNotifierWithoutNotifySocket() {
        unsetenv("NOTIFY_SOCKET")
        XCTAssertNil(SystemdNotifier())
    }

    func testLifecycleMessages() throws {
        let notifier = try XCTUnwrap(SystemdNotifier())
        XCTAssertTrue(notifier.ready(status: "generation 1,\n2/2 workers ready"))
        XCTAssertEqual(self.receive(), "READY=1\nSTATUS=generation 1, 2/2 workers ready")

        let before = MonotonicTime.microseconds()
        XCTAssertTrue(notifier.reloading(status: "reloading"))
        let reloading = try XCTUnwrap(self.receive()).split(separator: "\n").map(String.init)
        XCTAssertEqual(reloading.first, "RELOADING=1")
        let usec = try XCTUnwrap(UInt64(reloading[1].dropFirst("MONOTONIC_USEC=".count)))
        XCTAssertTrue(reloading[1].hasPrefix("MONOTONIC_USEC="))
        XCTAssertGreaterThanOrEqual(usec, before)
        XCTAssertEqual(reloading[2], "STATUS=reloading")

        XCTAssertTrue(notifier.stopping(status: "stopping"))
        XCTAssertEqual(self.receive(), "STOPPING=1\nSTATUS=stopping")
        XCTAssertTrue(notifier.watchdog())
        XCTAssertEqual(self.receive(), "WATCHDOG=1")
        XCTAssertTrue(notifier.status("x"))
        XCTAssertEqual(self.receive(), "STATUS=x")
    }

    func testFileDescriptorStore() throws {
        let notifier = try XCTUnwrap(SystemdNotifier())
        let fd = open("/dev/null", O_RDONLY)
        defer { close(fd) }
        XCTAssertTrue(notifier.storeFileDescriptors([fd], name: "foap-listener"))
        XCTAssertEqual(self.receive(), "FDSTORE=1\nFDNAME=foap-listener")
    }

    func testWatchdogIntervalIsHalfOfWatchdogUsecForThisPidOnly() {
        XCTAssertNil(SystemdWatchdog.pingInterval())
        setenv("WATCHDOG_USEC", "2000000", 1)
        XCTAssertEqual(SystemdWatchdog.pingInterval(), .seconds(1))
        setenv("WATCHDOG_PID", "\(getpid())", 1)
        XCTAssertEqual(SystemdWatchdog.pingInterval(), .seconds(1))
        setenv("WATCHDOG_PID", "1", 1)
        XCTAssertNil(SystemdWatchdog.pingInterval())
    }

    func testNoListenFDsWithoutSystemd() {
        XCTAssertEqual(SystemdListenFDs.take(), [])
    }
}
