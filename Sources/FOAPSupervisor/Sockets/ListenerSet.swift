import FOAPSystemd

#if canImport(Glibc)
import Glibc
#endif

/// The listening sockets of every worker slot, opened once and kept open for the master's whole life.
///
/// Closing a listener of an SO_REUSEPORT group resets the connections queued on it, so the master never closes
/// one: slot *i*'s worker of every generation inherits the same socket *i* (see pitfalls.md).
/// Three sources, in this order:
/// 1. systemd socket activation (`LISTEN_FDS` with names other than `foap-listener`): shared by every slot;
/// 2. sockets the previous master stored in systemd's fd store (`foap-listener`): one per slot, adopted;
/// 3. otherwise one fresh SO_REUSEPORT socket per slot on host:port.
struct ListenerSet {
    enum Origin: String, Equatable {
        case socketActivation = "socket activation"
        case fileDescriptorStore = "systemd fd store"
        case opened = "opened"
    }

    /// The FDNAME under which slot listeners are stored in systemd's fd store.
    static let storeName = "foap-listener"

    /// `perSlot[i]` are the sockets slot *i*'s workers inherit.
    let perSlot: [[Int32]]
    let origin: Origin
    /// Where the listeners are bound, for the log, e.g. `127.0.0.1:8080` or `[::1]:8080`.
    let boundAddress: String
    /// The bound port (the kernel's choice when 0 was asked for).
    let port: Int

    /// Every distinct descriptor (the socket-activation ones appear once).
    var allDescriptors: [Int32] {
        var seen = Set<Int32>()
        return self.perSlot.joined().filter { seen.insert($0).inserted }
    }

    static func make(
        host: String,
        port: Int,
        slots: Int,
        backlog: Int32 = 4096,
        systemdSockets: [SystemdListenedSocket] = []
    ) throws -> ListenerSet {
        let activated = systemdSockets.filter { $0.name != Self.storeName }.map(\.fd)
        if !activated.isEmpty {
            let address = try SocketAddress.local(of: activated[0])
            return ListenerSet(
                perSlot: Array(repeating: activated, count: slots),
                origin: .socketActivation,
                boundAddress: address.description,
                port: address.port
            )
        }
        var stored = systemdSockets.filter { $0.name == Self.storeName }.map(\.fd)
        let origin: Origin = stored.isEmpty ? .opened : .fileDescriptorStore
        var chosenPort = port
        if let first = stored.first {
            chosenPort = try SocketAddress.local(of: first).port
        }
        if origin == .opened, port != 0 {
            try Self.ensureNobodyListens(host: host, port: port)
        }
        // Extra stored sockets (fewer slots than last time) stay open but unused: closing them would reset their
        // queued connections.
        var perSlot: [[Int32]] = []
        for _ in 0..<slots {
            if !stored.isEmpty {
                perSlot.append([stored.removeFirst()])
                continue
            }
            let fd = try Self.openListener(host: host, port: chosenPort, backlog: backlog)
            if chosenPort == 0 {
                chosenPort = try SocketAddress.local(of: fd).port
            }
            perSlot.append([fd])
        }
        let address = try SocketAddress.local(of: perSlot[0][0])
        return ListenerSet(perSlot: perSlot, origin: origin, boundAddress: address.description, port: address.port)
    }

    /// Another process listens on the address: with SO_REUSEPORT this master would join its group without a word
    /// and take a share of its connections (another `foap serve` with another config answering some requests).
    struct AddressInUse: Error, CustomStringConvertible {
        let address: String
        var description: String {
            "bind \(self.address): another process already listens there (another foap serve?); stop it or choose "
                + "another --port"
        }
    }

    /// Binds host:port without SO_REUSEPORT, which fails while any socket listens there, and lets the socket go (it
    /// never listened: nothing is queued on it, nothing is reset). SO_REUSEADDR keeps a previous run's closed
    /// connections (TIME_WAIT) from counting.
    static func ensureNobodyListens(host: String, port: Int) throws {
        do {
            close(try Self.boundSocket(host: host, port: port, reusePort: false))
        } catch let error as SystemCallError where error.call == "bind" && error.errno == EADDRINUSE {
            throw AddressInUse(address: error.context)
        }
    }

    /// One SO_REUSEADDR + SO_REUSEPORT TCP listener on host:port.
    static func openListener(host: String, port: Int, backlog: Int32) throws -> Int32 {
        let fd = try Self.boundSocket(host: host, port: port, reusePort: true)
        guard listen(fd, backlog) == 0 else {
            let error = SystemCallError("listen", context: (try? SocketAddress.local(of: fd))?.description ?? host)
            close(fd)
            throw error
        }
        return fd
    }

    /// A TCP socket bound to host:port with SO_REUSEADDR (and SO_REUSEPORT when asked), not yet listening.
    private static func boundSocket(host: String, port: Int, reusePort: Bool) throws -> Int32 {
        let address = try SocketAddress.resolve(host: host, port: port)
        let fd = socket(address.family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else {
            throw SystemCallError("socket", context: address.description)
        }
        var one: Int32 = 1
        let length = socklen_t(MemoryLayout<Int32>.size)
        guard setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, length) == 0,
            !reusePort || setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, length) == 0
        else {
            let error = SystemCallError("setsockopt", context: address.description)
            close(fd)
            throw error
        }
        guard address.withSockaddr({ bind(fd, $0, $1) }) == 0 else {
            let error = SystemCallError("bind", context: address.description)
            close(fd)
            throw error
        }
        return fd
    }
}
