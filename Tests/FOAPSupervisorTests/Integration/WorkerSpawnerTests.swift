import Foundation
import FOAPWorkerChannel
import XCTest

@testable import FOAPSupervisor

#if canImport(Glibc)
import Glibc
#endif

final class WorkerSpawnerTests: XCTestCase {
    /// Blocks until a worker channel packet arrives (bounded), for the master-side non-blocking socket.
    func receive(fd: Int32) -> ChannelToWorker.ReadResult {
        var pollFD = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        _ = poll(&pollFD, 1, 20_000)
        return ChannelToWorker.readAvailable(fd: fd)
    }

    func receiveMessages(_ count: Int, fd: Int32) -> [WorkerMessage] {
        var messages: [WorkerMessage] = []
        while messages.count < count {
            let result = self.receive(fd: fd)
            messages += result.messages
            if result.closed { break }
        }
        return messages
    }

    func testChildGetsExactlyTheContractFDsAndACleanEnvironment() throws {
        let directory = TemporaryDirectory()
        let script = try TestWorkerScript.install(in: directory.path)
        let reportPath = directory.path + "/report.json"
        let listeners = try ListenerSet.make(host: "127.0.0.1", port: 0, slots: 2)
        defer { listeners.allDescriptors.forEach { close($0) } }
        // A descriptor without close-on-exec that must not leak into the child.
        let stray = open("/dev/null", O_RDONLY)
        defer { close(stray) }

        let spawner = WorkerSpawner(
            executablePath: script,
            environment: [
                "PATH=/usr/bin:/bin", "REPORT_PATH=\(reportPath)", "JOURNAL_STREAM=8:1234", "NOTIFY_SOCKET=/x",
                "WATCHDOG_USEC=1", "WATCHDOG_PID=1", "LISTEN_FDS=1", "LISTEN_PID=1", "LISTEN_FDNAMES=x",
            ]
        )
        XCTAssertNotEqual(sigprocmask_block(SIGTERM), -1)
        defer { _ = sigprocmask_unblock(SIGTERM) }
        let worker = try spawner.spawn(
            slot: 1, generation: 7, listeners: listeners.perSlot[1], snapshot: Array("{\"models\":2}".utf8)
        )
        defer { close(worker.channelFD) }

        XCTAssertEqual(self.receiveMessages(2, fd: worker.channelFD), [.ready, .heartbeat])

        let report = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: reportPath)))
            as! [String: Any]
        XCTAssertEqual(report["argv"] as? [String], ["worker"])
        // 0-2 stdio, 3 listener, 4 worker channel, 5 snapshot; python's listdir itself opens one more fd (the last).
        let fds = report["fds"] as! [Int]
        XCTAssertEqual(Array(fds.prefix(6)), [0, 1, 2, 3, 4, 5])
        XCTAssertEqual(fds.count, 7, "unexpected inherited descriptors: \(fds)")
        XCTAssertEqual(report["stdin"] as? String, "/dev/null")
        XCTAssertEqual(report["snapshot"] as? String, "{\"models\":2}")
        XCTAssertEqual(report["sigmask"] as? String, "0000000000000000")
        let env = report["env"] as! [String: String]
        XCTAssertEqual(env["FOAP_LISTEN_FDS"], "1")
        XCTAssertEqual(env["FOAP_CONTROL_FD"], "4")
        XCTAssertEqual(env["FOAP_SNAPSHOT_FD"], "5")
        XCTAssertEqual(env["FOAP_WORKER_SLOT"], "1")
        XCTAssertEqual(env["FOAP_GENERATION"], "7")
        XCTAssertEqual(env["JOURNAL_STREAM"], "8:1234")
        for name in ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"] {
            XCTAssertNil(env[name], name)
        }

        XCTAssertTrue(ChannelSocket.send(.master(.drain), fd: worker.channelFD))
        XCTAssertEqual(self.receive(fd: worker.channelFD).messages, [.draining])
        let status = waitForExit(pid: worker.pid)
        XCTAssertEqual(status.map(WorkerExitStatus.init(waitStatus:)), .exited(code: 0))
    }

    func testWorkerSeesEOFWhenMasterClosesItsEnd() throws {
        let directory = TemporaryDirectory()
        let script = try TestWorkerScript.install(in: directory.path)
        let spawner = WorkerSpawner(
            executablePath: script,
            environment: ["PATH=/usr/bin:/bin", "REPORT_PATH=\(directory.path)/r.json"]
        )
        let worker = try spawner.spawn(slot: 0, generation: 1, listeners: [], snapshot: [])
        XCTAssertEqual(self.receiveMessages(2, fd: worker.channelFD), [.ready, .heartbeat])
        close(worker.channelFD)
        let status = waitForExit(pid: worker.pid)
        XCTAssertEqual(status.map(WorkerExitStatus.init(waitStatus:)), .exited(code: 3))
    }

    func testSpawnOfMissingExecutableThrows() {
        let spawner = WorkerSpawner(executablePath: "/nonexistent/foap", environment: [])
        XCTAssertThrowsError(try spawner.spawn(slot: 0, generation: 1, listeners: [], snapshot: [])) { error in
            XCTAssertEqual((error as? SystemCallError)?.errno, ENOENT)
        }
    }

    func testExitStatusNamesSignals() {
        XCTAssertEqual(WorkerExitStatus(waitStatus: 9).description, "signal SIGKILL")
        XCTAssertEqual(WorkerExitStatus(waitStatus: 3 << 8).description, "exit code 3")
    }
}

/// Blocks a signal in the calling thread, so the test shows the child's mask is reset regardless.
func sigprocmask_block(_ signal: Int32) -> Int32 {
    var set = sigset_t()
    sigemptyset(&set)
    sigaddset(&set, signal)
    return pthread_sigmask(SIG_BLOCK, &set, nil)
}

func sigprocmask_unblock(_ signal: Int32) -> Int32 {
    var set = sigset_t()
    sigemptyset(&set)
    sigaddset(&set, signal)
    return pthread_sigmask(SIG_UNBLOCK, &set, nil)
}
