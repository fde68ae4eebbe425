#if canImport(Glibc)
import Glibc
#endif

import FOAPWorkerChannel

/// The master's control socket (`foap ctl`): a unix stream socket, one command line per connection.
///
/// Everything is non-blocking so a client can never stall the master's loop: a client that sends no complete line
/// within `commandTimeout` is dropped, and replies (a few hundred bytes) are written with MSG_DONTWAIT, which the
/// socket buffer of a fresh connection always takes.
final class ControlServer {
    struct Client {
        let fd: Int32
        var buffer: [UInt8] = []
        /// Unset once the command arrived (a `reload --wait` client may then wait as long as the reload takes).
        var deadline: ContinuousClock.Instant?
    }

    /// What a readable client produced.
    enum Input: Equatable {
        case command(ControlClientID, ControlCommand)
        case invalid(ControlClientID, String)
    }

    static let maximumLineLength = 256
    let path: String
    let fd: Int32
    let commandTimeout: Duration
    private(set) var clients: [ControlClientID: Client] = [:]
    private var nextID = 1

    /// Binds `path` (mode 0600: only the service's own user may reload it). A stale socket file left by a master
    /// that was killed is replaced; any other file at that path is an error, never deleted.
    init(path: String, commandTimeout: Duration = .seconds(5)) throws {
        self.path = path
        self.commandTimeout = commandTimeout
        let address = try SocketAddress.unix(path: path)
        var status = stat()
        if lstat(path, &status) == 0 {
            guard (status.st_mode & S_IFMT) == S_IFSOCK else {
                throw SystemCallError("bind", errno: EEXIST, context: "\(path) (not a socket)")
            }
            unlink(path)
        }
        let type = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        let fd = socket(AF_UNIX, type, 0)
        guard fd >= 0 else {
            throw SystemCallError("socket", context: "AF_UNIX")
        }
        let previousMask = umask(0o177)
        let bound = address.withSockaddr { bind(fd, $0, $1) }
        umask(previousMask)
        guard bound == 0, listen(fd, 16) == 0 else {
            let error = SystemCallError("bind", context: path)
            close(fd)
            throw error
        }
        self.fd = fd
    }

    deinit {
        for client in self.clients.values {
            close(client.fd)
        }
        close(self.fd)
        unlink(self.path)
    }

    var clientDescriptors: [(ControlClientID, Int32)] {
        self.clients.sorted { $0.key < $1.key }.map { ($0.key, $0.value.fd) }
    }

    /// The earliest moment a silent client must be dropped.
    var nextDeadline: ContinuousClock.Instant? {
        self.clients.values.compactMap(\.deadline).min()
    }

    /// Accepts every pending connection.
    func acceptPending(now: ContinuousClock.Instant) {
        while true {
            let client = accept(self.fd, nil, nil)
            guard client >= 0 else {
                return
            }
            _ = fcntl(client, F_SETFL, fcntl(client, F_GETFL) | O_NONBLOCK)
            _ = fcntl(client, F_SETFD, FD_CLOEXEC)
            let id = ControlClientID(rawValue: self.nextID)
            self.nextID += 1
            self.clients[id] = Client(fd: client, deadline: now + self.commandTimeout)
        }
    }

    /// Reads what a client sent. - Returns: its command once a whole line arrived, `.invalid` for a line that is
    /// not a command (the caller answers it), nil while the line is incomplete or when the client hung up.
    func read(_ id: ControlClientID) -> Input? {
        guard var client = self.clients[id] else {
            return nil
        }
        var chunk = [UInt8](repeating: 0, count: 512)
        let count = chunk.withUnsafeMutableBytes { bytes in
            retryingOnInterrupt { recv(client.fd, bytes.baseAddress, bytes.count, 0) }
        }
        if count == 0 || (count < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
            self.drop(id)
            return nil
        }
        guard count > 0, client.deadline != nil else {
            // Bytes after the command (or spurious wake-ups) are ignored.
            return nil
        }
        client.buffer += chunk[0..<count]
        guard let newline = client.buffer.firstIndex(of: UInt8(ascii: "\n")) else {
            self.clients[id] = client
            if client.buffer.count > Self.maximumLineLength {
                return .invalid(id, "command line too long")
            }
            return nil
        }
        let line = String(decoding: client.buffer[..<newline], as: UTF8.self)
        client.buffer = []
        client.deadline = nil
        self.clients[id] = client
        guard let command = ControlCommand(line: line) else {
            return .invalid(id, "unknown command '\(line)': expected status, reload [--wait] [--force] or drain")
        }
        return .command(id, command)
    }

    /// Writes the reply and closes the connection.
    func answer(_ id: ControlClientID, _ reply: ControlReply) {
        guard let client = self.clients.removeValue(forKey: id) else {
            return
        }
        let bytes = Array(reply.text.utf8)
        _ = bytes.withUnsafeBytes { raw in
            retryingOnInterrupt { send(client.fd, raw.baseAddress, raw.count, Int32(MSG_DONTWAIT | MSG_NOSIGNAL)) }
        }
        close(client.fd)
    }

    /// Closes clients whose command did not arrive in time.
    func dropSilentClients(now: ContinuousClock.Instant) {
        for (id, client) in self.clients {
            if let deadline = client.deadline, deadline <= now {
                self.drop(id)
            }
        }
    }

    private func drop(_ id: ControlClientID) {
        if let client = self.clients.removeValue(forKey: id) {
            close(client.fd)
        }
    }
}
