import Atomics
import Glibc

/// The one shared-memory region that holds every limit's state on a host: a file under `FOAP_STATE_DIR` (so
/// budgets survive a master restart and a reboot) or anonymous shared memory, mapped `MAP_SHARED` by the master
/// and every worker.
///
/// The master creates it once at start and keeps it for life; workers map the descriptor they inherit. Every word
/// is read and written with atomics, so processes never lock each other out, and a crashed worker can only leave
/// behind in-flight counts, which the master gives back with ``reclaim(holder:)``.
public final class LimitsRegion: @unchecked Sendable {
    // @unchecked: the mapping is shared memory that every access goes through `UnsafeAtomic`; the stored
    // properties themselves never change after init.

    /// How the master found the region at start, for its log line.
    public enum Opening: Sendable, Equatable {
        /// No file (or anonymous memory): a fresh, empty region.
        case created
        /// A valid region from before: usage kept, in-flight counts zeroed.
        case reopened
        /// A file with another size, magic, version or layout: emptied and rebuilt.
        case reset(reason: String)
        /// Mapped from an inherited descriptor (a worker).
        case inherited
    }

    public static let defaultCapacity = 4_096
    /// Holder ids the master may give its workers: `0..<maximumHolders`.
    public static let maximumHolders = RegionLayout.holderCount
    /// The region's file name inside the state directory.
    public static let fileName = "limits.region"

    /// The descriptor to hand to workers (it is close-on-exec; dup2 it to the fixed number in the spawn).
    public let fileDescriptor: Int32
    /// How many scopes fit.
    public let capacity: Int
    /// Set once, in init.
    public private(set) var opening: Opening = .created
    let words: UnsafeMutablePointer<UnsafeAtomic<UInt64>.Storage>
    private let byteCount: Int

    /// Master side: creates or reopens `path`, or anonymous shared memory when `path` is nil.
    ///
    /// A region that is kept has its in-flight counts zeroed: at master start no process holds a slot.
    public convenience init(path: String?, capacity: Int = LimitsRegion.defaultCapacity, now: Int64) throws(LimitsError) {
        precondition((1...1 << 24).contains(capacity), "a limits region holds 1 to 2^24 scopes")
        let descriptor = if let path { try Self.openFile(path) } else { try Self.anonymous() }
        do {
            try self.init(creatingIn: descriptor, capacity: capacity, now: now)
        } catch {
            close(descriptor)
            throw error
        }
    }

    /// Master side: the region file inside `stateDirectory` (``fileName``), or anonymous memory when it is nil.
    public convenience init(
        stateDirectory: String?,
        capacity: Int = LimitsRegion.defaultCapacity,
        now: Int64
    ) throws(LimitsError) {
        try self.init(path: stateDirectory.map { $0 + "/" + Self.fileName }, capacity: capacity, now: now)
    }

    /// Worker side: maps the region behind an inherited descriptor, checking its header. Takes over `descriptor`.
    public init(inheriting descriptor: Int32) throws(LimitsError) {
        let size = try Self.size(of: descriptor)
        guard size >= RegionLayout.headerWords * 8 else {
            throw LimitsError("the inherited limits region is too small (\(size) bytes)")
        }
        let header = try Self.map(descriptor, byteCount: RegionLayout.headerWords * 8)
        let capacity = Int(
            truncatingIfNeeded: UnsafeAtomic<UInt64>(at: header.advanced(by: RegionLayout.Header.capacity))
                .load(ordering: .acquiring)
        )
        munmap(UnsafeMutableRawPointer(header), RegionLayout.headerWords * 8)
        guard capacity > 0, capacity <= size / (RegionLayout.slotWords * 8),
            size == RegionLayout.byteCount(capacity: capacity)
        else {
            throw LimitsError("the inherited limits region has an invalid header")
        }
        self.fileDescriptor = descriptor
        self.capacity = capacity
        self.byteCount = size
        self.words = try Self.map(descriptor, byteCount: size)
        self.opening = .inherited
        if let problem = self.headerProblem(capacity: capacity) {
            throw LimitsError("the inherited limits region is not valid: \(problem)")
        }
    }

    private init(creatingIn descriptor: Int32, capacity: Int, now: Int64) throws(LimitsError) {
        let expected = RegionLayout.byteCount(capacity: capacity)
        let size = try Self.size(of: descriptor)
        var resetReason: String? = size == 0 ? nil : (size == expected ? nil : "its size does not match")
        if size != expected {
            guard ftruncate(descriptor, 0) == 0, ftruncate(descriptor, off_t(expected)) == 0 else {
                throw LimitsError("cannot size the limits region: \(Self.lastError)")
            }
        }
        self.fileDescriptor = descriptor
        self.capacity = capacity
        self.byteCount = expected
        self.words = try Self.map(descriptor, byteCount: expected)
        if size == expected, let problem = self.headerProblem(capacity: capacity) {
            resetReason = problem
            memset(UnsafeMutableRawPointer(self.words), 0, expected)
        }
        if size == expected, resetReason == nil {
            self.opening = .reopened
            self.zeroInFlight()
            // A region from before the host identity existed gets one now, and keeps it from then on.
            _ = self.word(RegionLayout.Header.hostIdentity).compareExchange(
                expected: 0, desired: Self.randomIdentity(), ordering: .relaxed)
        } else {
            self.opening = resetReason.map { .reset(reason: $0) } ?? .created
            self.writeHeader(now: now)
        }
    }

    deinit {
        munmap(UnsafeMutableRawPointer(self.words), self.byteCount)
        close(self.fileDescriptor)
    }

    /// The atomic word at `index` (header and slots alike).
    @inline(__always)
    func word(_ index: Int) -> UnsafeAtomic<UInt64> {
        UnsafeAtomic(at: self.words.advanced(by: index))
    }

    /// The atomic word `offset` of scope slot `slot`.
    @inline(__always)
    func slotWord(_ slot: Int, _ offset: Int) -> UnsafeAtomic<UInt64> {
        self.word(RegionLayout.headerWords + slot * RegionLayout.slotWords + offset)
    }

    /// Asks the kernel to write dirty pages back soon (budgets survive a power cut up to that point).
    public func flush() {
        msync(UnsafeMutableRawPointer(self.words), self.byteCount, MS_ASYNC)
    }

    /// A random number made with the region and kept with it (in its file, across master restarts and reboots):
    /// it names this host in a fleet's Redis, where budgets remember what each host spent. It lives exactly as long
    /// as this host's own record of that spend (``FleetScopeState``), so the two can never disagree about who spent
    /// what, as a pid or a hostname that changes under a kept region could.
    public var hostIdentity: UInt64 {
        self.word(RegionLayout.Header.hostIdentity).load(ordering: .relaxed)
    }

    // MARK: - Header

    private func writeHeader(now: Int64) {
        typealias H = RegionLayout.Header
        self.word(H.version).store(RegionLayout.version, ordering: .relaxed)
        self.word(H.capacity).store(UInt64(self.capacity), ordering: .relaxed)
        self.word(H.slotWords).store(UInt64(RegionLayout.slotWords), ordering: .relaxed)
        self.word(H.holders).store(UInt64(RegionLayout.holderCount), ordering: .relaxed)
        self.word(H.headerWords).store(UInt64(RegionLayout.headerWords), ordering: .relaxed)
        self.word(H.layoutCheck).store(RegionLayout.layoutCheck(capacity: UInt64(self.capacity)), ordering: .relaxed)
        self.word(H.createdAt).store(UInt64(bitPattern: now), ordering: .relaxed)
        self.word(H.hostIdentity).store(Self.randomIdentity(), ordering: .relaxed)
        self.word(H.magic).store(RegionLayout.magic, ordering: .releasing)
    }

    /// Why the header does not describe this layout, or nil when it does.
    private func headerProblem(capacity: Int) -> String? {
        typealias H = RegionLayout.Header
        if self.word(H.magic).load(ordering: .acquiring) != RegionLayout.magic {
            return "it is not a foap limits region"
        }
        if self.word(H.version).load(ordering: .relaxed) != RegionLayout.version {
            return "it was written by another version"
        }
        let expected: [(Int, UInt64)] = [
            (H.capacity, UInt64(capacity)), (H.slotWords, UInt64(RegionLayout.slotWords)),
            (H.holders, UInt64(RegionLayout.holderCount)), (H.headerWords, UInt64(RegionLayout.headerWords)),
            (H.layoutCheck, RegionLayout.layoutCheck(capacity: UInt64(capacity))),
        ]
        if expected.contains(where: { self.word($0.0).load(ordering: .relaxed) != $0.1 }) {
            return "its layout differs"
        }
        return nil
    }

    // MARK: - System calls

    /// Never 0 (the mark of a region older than the identity).
    private static func randomIdentity() -> UInt64 {
        var random = SystemRandomNumberGenerator()
        return random.next() | 1
    }

    private static func openFile(_ path: String) throws(LimitsError) -> Int32 {
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw LimitsError("cannot open the limits region \(path): \(Self.lastError)")
        }
        return descriptor
    }

    /// Anonymous shared memory (a POSIX shm object unlinked at once: like a memfd, gone with its last descriptor).
    private static func anonymous() throws(LimitsError) -> Int32 {
        var random = SystemRandomNumberGenerator()
        let name = "/foap-limits-\(getpid())-\(random.next() as UInt64)"
        let descriptor = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0o600)
        guard descriptor >= 0 else {
            throw LimitsError("cannot create anonymous shared memory: \(Self.lastError)")
        }
        shm_unlink(name)
        return descriptor
    }

    private static func size(of descriptor: Int32) throws(LimitsError) -> Int {
        var status = stat()
        guard fstat(descriptor, &status) == 0 else {
            throw LimitsError("cannot stat the limits region: \(Self.lastError)")
        }
        return Int(status.st_size)
    }

    private static func map(
        _ descriptor: Int32,
        byteCount: Int
    ) throws(LimitsError) -> UnsafeMutablePointer<UnsafeAtomic<UInt64>.Storage> {
        let address = mmap(nil, byteCount, PROT_READ | PROT_WRITE, MAP_SHARED, descriptor, 0)
        guard let address, address != UnsafeMutableRawPointer(bitPattern: -1) else {
            throw LimitsError("cannot map the limits region: \(Self.lastError)")
        }
        return address.bindMemory(to: UnsafeAtomic<UInt64>.Storage.self, capacity: byteCount / 8)
    }

    static var lastError: String {
        String(cString: strerror(errno))
    }
}

/// A limits region could not be created, opened or used; the message says which and why.
public struct LimitsError: Error, Sendable, Equatable, CustomStringConvertible {
    public let description: String

    init(_ description: String) {
        self.description = description
    }
}
