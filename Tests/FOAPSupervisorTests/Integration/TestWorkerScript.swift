import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// A stand-in worker: a python3 script that speaks the worker channel's words over the inherited fds, so the spawner and
/// channel are tested against a real process that is not foap.
enum TestWorkerScript {
    /// Writes the script into `directory` as an executable named `worker.py` and returns its path.
    /// The script writes a JSON report (fds, env, snapshot) to `$REPORT_PATH`, sends `ready`, then waits for `drain`,
    /// answers `draining` and exits 0. EOF or an error on the worker channel makes it exit 3.
    static func install(in directory: String) throws -> String {
        let path = directory + "/worker.py"
        let script = """
            #!/usr/bin/env python3
            import json, os, socket, sys
            listen = int(os.environ["FOAP_LISTEN_FDS"])
            channel_fd = int(os.environ["FOAP_CONTROL_FD"])
            snapshot_fd = int(os.environ["FOAP_SNAPSHOT_FD"])
            snapshot = os.pread(snapshot_fd, 1 << 20, 0).decode()
            report = {
                "argv": sys.argv[1:],
                "fds": sorted(int(n) for n in os.listdir("/proc/self/fd")),
                "env": {k: v for k, v in os.environ.items()},
                "snapshot": snapshot,
                "stdin": os.readlink("/proc/self/fd/0"),
                "sigmask": [l.split()[1] for l in open("/proc/self/status") if l.startswith("SigBlk")][0],
            }
            with open(os.environ["REPORT_PATH"], "w") as f:
                json.dump(report, f)
            channel = socket.socket(fileno=channel_fd)
            channel.send(b"ready")
            channel.send(b"heartbeat")
            while True:
                try:
                    word = channel.recv(64)
                except OSError:  # ECONNRESET: the master closed with our packets unread
                    word = b""
                if not word:
                    sys.exit(3)
                if word == b"drain":
                    channel.send(b"draining")
                    sys.exit(0)
            """
        try Data(script.utf8).write(to: URL(fileURLWithPath: path))
        chmod(path, 0o755)
        return path
    }
}

/// A scratch directory removed at the end of the test.
final class TemporaryDirectory {
    let path: String

    init() {
        var template = Array((NSTemporaryDirectory() + "/foap-supervisor-XXXXXX").utf8CString)
        let created = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        self.path = String(cString: created!)
    }

    deinit {
        try? FileManager.default.removeItem(atPath: self.path)
    }
}

/// Waits for a child by pid with a generous bound; returns its raw wait status.
func waitForExit(pid: Int32, file: StaticString = #filePath, line: UInt = #line) -> Int32? {
    let deadline = ContinuousClock.now + .seconds(20)
    while ContinuousClock.now < deadline {
        var status: Int32 = 0
        let result = waitpid(pid, &status, WNOHANG)
        if result == pid {
            return status
        }
        usleep(5_000)
    }
    XCTFail("process \(pid) did not exit", file: file, line: line)
    kill(pid, SIGKILL)
    return nil
}
