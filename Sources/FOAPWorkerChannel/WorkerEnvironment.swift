#if canImport(Glibc)
import Glibc
#endif

/// What a worker inherited from its master: the descriptors and identity announced in its environment.
///
/// Layout (the contract with the master's `WorkerSpawner`): listeners at 3 ..< 3+L, the worker channel at 3+L, the
/// snapshot memfd at 4+L, announced by `FOAP_LISTEN_FDS`, `FOAP_CONTROL_FD` (the worker channel: the variable keeps
/// its first name, since an old master may start a new binary), `FOAP_SNAPSHOT_FD`, `FOAP_WORKER_SLOT` and
/// `FOAP_GENERATION`.
public struct WorkerEnvironment: Sendable, Equatable {
    public let listenFDs: [Int32]
    /// The worker's end of its worker channel.
    public let channelFD: Int32
    public let snapshotFD: Int32
    public let slot: Int
    public let generation: Int
    /// The host's shared limits region (`FOAP_LIMITS_FD`, at 5+L) and this worker's holder id in it
    /// (`FOAP_LIMITS_HOLDER`, unique among live workers, so the master can give back what a dead worker held).
    public let limits: SharedLimits?

    /// The limits region as a worker inherits it.
    public struct SharedLimits: Sendable, Equatable {
        public let fd: Int32
        public let holder: Int

        public init(fd: Int32, holder: Int) {
            self.fd = fd
            self.holder = holder
        }
    }

    public init(
        listenFDs: [Int32], channelFD: Int32, snapshotFD: Int32, slot: Int, generation: Int,
        limits: SharedLimits? = nil
    ) {
        self.listenFDs = listenFDs
        self.channelFD = channelFD
        self.snapshotFD = snapshotFD
        self.slot = slot
        self.generation = generation
        self.limits = limits
    }

    /// Parses the `FOAP_*` variables a master sets.
    /// - Throws: `WorkerEnvironmentError` naming the missing or malformed variable, e.g. when `foap worker` is run
    ///   by hand instead of by `foap serve`.
    public static func fromProcessEnvironment(_ env: [String: String]) throws -> WorkerEnvironment {
        func integer(_ name: String) throws -> Int {
            guard let text = env[name] else {
                throw WorkerEnvironmentError(
                    message: "\(name) is not set: `foap worker` is started by `foap serve`, not by hand"
                )
            }
            guard let value = Int(text), value >= 0 else {
                throw WorkerEnvironmentError(message: "\(name)=\(text) is not a non-negative integer")
            }
            return value
        }
        let listenCount = try integer(WorkerEnvironmentKey.listenFDs)
        var limits: SharedLimits?
        if env[WorkerEnvironmentKey.limitsFD] != nil {
            limits = SharedLimits(
                fd: Int32(try integer(WorkerEnvironmentKey.limitsFD)),
                holder: try integer(WorkerEnvironmentKey.limitsHolder))
        }
        let environment = WorkerEnvironment(
            listenFDs: (0..<listenCount).map { Int32(3 + $0) },
            channelFD: Int32(try integer(WorkerEnvironmentKey.channelFD)),
            snapshotFD: Int32(try integer(WorkerEnvironmentKey.snapshotFD)),
            slot: try integer(WorkerEnvironmentKey.slot),
            generation: try integer(WorkerEnvironmentKey.generation),
            limits: limits
        )
        for fd in environment.listenFDs + [environment.channelFD, environment.snapshotFD] + [limits?.fd].compactMap({ $0 })
        where fcntl(fd, F_GETFD) < 0 {
            throw WorkerEnvironmentError(message: "inherited file descriptor \(fd) is not open")
        }
        return environment
    }

    /// Reads the config snapshot whole from offset 0 and closes the memfd (it is needed once).
    public func readSnapshot() throws -> [UInt8] {
        defer { close(self.snapshotFD) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        var offset: off_t = 0
        while true {
            let count = chunk.withUnsafeMutableBytes { buffer in
                retryingOnInterrupt { pread(self.snapshotFD, buffer.baseAddress, buffer.count, offset) }
            }
            if count < 0 {
                let reason = String(cString: strerror(errno))
                throw WorkerEnvironmentError(message: "pread snapshot fd \(self.snapshotFD): \(reason)")
            }
            if count == 0 {
                return bytes
            }
            bytes += chunk[0..<count]
            offset += off_t(count)
        }
    }
}

/// The worker's environment is not what a master sets up.
public struct WorkerEnvironmentError: Error, CustomStringConvertible, Equatable {
    public let message: String
    public var description: String { self.message }
}

/// The variable names shared by the master's `WorkerSpawner` (writes them) and `WorkerEnvironment` (reads them).
public enum WorkerEnvironmentKey {
    public static let listenFDs = "FOAP_LISTEN_FDS"
    /// The worker channel's descriptor (named before the channel was: kept, see `WorkerEnvironment`).
    public static let channelFD = "FOAP_CONTROL_FD"
    public static let snapshotFD = "FOAP_SNAPSHOT_FD"
    public static let slot = "FOAP_WORKER_SLOT"
    public static let generation = "FOAP_GENERATION"
    public static let limitsFD = "FOAP_LIMITS_FD"
    public static let limitsHolder = "FOAP_LIMITS_HOLDER"
    /// Every one of them (the spawner removes them from what a worker inherits, then sets its own).
    public static let all: Set<String> = [listenFDs, channelFD, snapshotFD, slot, generation, limitsFD, limitsHolder]
}
