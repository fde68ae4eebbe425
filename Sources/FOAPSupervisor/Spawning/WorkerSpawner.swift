import CFOAPSpawn
import FOAPWorkerChannel

#if canImport(Glibc)
import Glibc
#endif

/// A worker process just started: its pid and the master's end of its worker channel.
struct SpawnedWorker {
    let pid: Int32
    /// Non-blocking, close-on-exec; the master reads `ready`/`heartbeat`/`draining` from it and writes `drain`.
    let channelFD: Int32
}

/// Starts `<executable> worker` processes with exactly the descriptors of the worker contract.
///
/// posix_spawn (never fork in a Swift process) with: listeners at 3 ..< 3+L, the worker channel at 3+L, the snapshot
/// memfd at 4+L, stdin on /dev/null, stdout/stderr inherited (the journal stream), every other fd closed in the
/// child (`closefrom`: descriptors opened by other code are not reliably close-on-exec), an empty signal mask and
/// default dispositions (the master blocks the signals it reads from a signalfd; children would inherit that).
struct WorkerSpawner {
    /// The binary, by path: a binary replaced at that path is what the next spawn runs.
    let executablePath: String
    /// The master's environment minus what belongs to the master alone (systemd's notify, watchdog and socket
    /// activation variables, which a worker must not act on), as `KEY=VALUE` strings.
    let baseEnvironment: [String]

    static let masterOnlyVariables = WorkerEnvironmentKey.all.union([
        "NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES",
    ])

    init(executablePath: String, environment: [String] = WorkerSpawner.currentEnvironment()) {
        self.executablePath = executablePath
        self.baseEnvironment = environment.filter { entry in
            let name = entry.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            return !Self.masterOnlyVariables.contains(String(name))
        }
    }

    /// This process's environment as `KEY=VALUE` strings.
    static func currentEnvironment() -> [String] {
        var result: [String] = []
        var cursor = environ
        while let entry = cursor.pointee {
            result.append(String(cString: entry))
            cursor += 1
        }
        return result
    }

    /// Starts one worker.
    /// - Parameters:
    ///   - listeners: the slot's listening sockets; the child gets copies at 3, 4, …; the master keeps its own.
    ///   - snapshot: the generation's validated config bytes, handed over in a sealed memfd.
    /// - Throws: `SystemCallError` when the socketpair, memfd or posix_spawn fails; nothing is leaked then.
    ///   - limits: the host's limits region and the holder id this worker gets in it (at 5+L), if any.
    func spawn(
        slot: Int, generation: Int, listeners: [Int32], snapshot: [UInt8], limits: (fd: Int32, holder: Int)? = nil
    ) throws -> SpawnedWorker {
        var pair: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair) == 0 else {
            throw SystemCallError("socketpair")
        }
        let (masterEnd, workerEnd) = (pair[0], pair[1])
        defer { close(workerEnd) }
        let snapshotFD = snapshot.withUnsafeBytes { bytes in
            cfoap_memfd_with_bytes("foap-snapshot", bytes.baseAddress, bytes.count)
        }
        guard snapshotFD >= 0 else {
            let error = SystemCallError("memfd_create")
            close(masterEnd)
            throw error
        }
        defer { close(snapshotFD) }
        _ = fcntl(masterEnd, F_SETFL, fcntl(masterEnd, F_GETFL) | O_NONBLOCK)

        let listenCount = listeners.count
        let limitsVariables = limits.map { limits in
            ["\(WorkerEnvironmentKey.limitsFD)=\(5 + listenCount)", "\(WorkerEnvironmentKey.limitsHolder)=\(limits.holder)"]
        } ?? []
        let environment =
            self.baseEnvironment + limitsVariables + [
                "\(WorkerEnvironmentKey.listenFDs)=\(listenCount)",
                "\(WorkerEnvironmentKey.channelFD)=\(3 + listenCount)",
                "\(WorkerEnvironmentKey.snapshotFD)=\(4 + listenCount)",
                "\(WorkerEnvironmentKey.slot)=\(slot)",
                "\(WorkerEnvironmentKey.generation)=\(generation)",
            ]
        let arguments = [self.executablePath, "worker"]
        let inherited = listeners + [workerEnd, snapshotFD] + (limits.map { [$0.fd] } ?? [])

        var pid: pid_t = 0
        let result = CStringArray.with(arguments) { argv in
            CStringArray.with(environment) { envp in
                inherited.withUnsafeBufferPointer { fds in
                    cfoap_spawn(&pid, self.executablePath, argv, envp, fds.baseAddress, Int32(fds.count), 1)
                }
            }
        }
        guard result == 0 else {
            close(masterEnd)
            throw SystemCallError("posix_spawn", errno: result, context: self.executablePath)
        }
        return SpawnedWorker(pid: pid, channelFD: masterEnd)
    }
}

/// A NULL-terminated `char *[]` built from Swift strings for the duration of a call.
enum CStringArray {
    static func with<Result>(
        _ strings: [String],
        _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> Result
    ) -> Result {
        let pointers: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) } + [nil]
        defer { pointers.forEach { free($0) } }
        return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
    }
}
