import FOAPConfig
import FOAPProxy
import FOAPWorker
import FOAPWorkerChannel
import Logging
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// A whole worker life in-process, with a bare master end and a listening socket made here the way the master makes
/// them: `ready` before accepting, accepting only after `accept`, heartbeats, `GET /metrics` answered with the
/// master's text, `draining` after `drain`, and the last metrics report before `run` returns.
final class WorkerLifecycleTests: XCTestCase {
    func testReadyAcceptHeartbeatScrapeDrainAndLastReport() async throws {
        let master = MasterEnd()
        defer { master.close(); close(master.workerFD) }
        let (listener, port) = try listeningSocket()
        let runtime = ProxyRuntime(
            snapshot: ConfigSnapshot(models: []),
            configuration: ProxyConfiguration(),
            threads: 1,
            drainTimeout: 5,
            logger: Logger(label: "worker-lifecycle-test")
        )
        let lifecycle = WorkerLifecycle(
            runtime: runtime, channel: ChannelToMaster(fd: master.workerFD), heartbeatInterval: .milliseconds(50)
        )
        let drain = OneShotSignal()
        let running = Task {
            try await lifecycle.run(listeners: .inherited(descriptors: [listener], backlog: 16), drain: drain)
        }

        XCTAssertEqual(master.waitFor("ready") { $0 == .worker(.ready) }.first, .worker(.ready), "ready comes first")
        // Not accepting yet: a connection waits in the listener's backlog, unanswered.
        let earlyAnswered = Flag()
        let early = Task.detached {
            defer { earlyAnswered.set() }
            return httpGet(port: port, path: "/health")
        }
        _ = master.waitFor("a heartbeat") { $0 == .worker(.heartbeat) }
        try await Task.sleep(for: .milliseconds(300))
        XCTAssertFalse(earlyAnswered.isSet, "answered before the master's accept")
        master.send(.master(.accept))
        let health = await early.value
        XCTAssertTrue(health?.hasPrefix("HTTP/1.1 200") == true, "\(health ?? "no answer")")

        // A scrape asks the master and serves its text.
        let scrape = Task.detached { httpGet(port: port, path: "/metrics") }
        _ = master.waitFor("a metrics request") { $0 == .metricsRequest }
        master.send(.expositionPart("foap_test_total 7\n"))
        master.send(.expositionEnd)
        let metrics = await scrape.value
        XCTAssertTrue(metrics?.hasPrefix("HTTP/1.1 200") == true, "\(metrics ?? "no answer")")
        XCTAssertTrue(metrics?.hasSuffix("\r\n\r\nfoap_test_total 7\n") == true, "\(metrics ?? "no answer")")

        master.send(.master(.drain))
        _ = master.waitFor("draining") { $0 == .worker(.draining) }
        try await running.value
        let last = master.readAvailable().compactMap { $0 }
        XCTAssertTrue(
            last.contains { if case .metricsReport(let text) = $0 { text.contains("foap_requests_total") } else { false } },
            "the last report follows the drain: \(last)"
        )
    }
}

/// A listening TCP socket on 127.0.0.1 and a free port, like one of the master's per-slot listeners.
func listeningSocket() throws -> (Int32, Int) {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw POSIXError(.EMFILE) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw in
            bind(fd, raw, length) == 0 && getsockname(fd, raw, &length) == 0 && listen(fd, 16) == 0
        }
    }
    guard bound else {
        close(fd)
        throw POSIXError(.EADDRINUSE)
    }
    return (fd, Int(UInt16(bigEndian: address.sin_port)))
}

/// One `GET` on a fresh connection with `Connection: close`; the whole answer, or nil after 20 s.
func httpGet(port: Int, path: String) -> String? {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var limit = timeval(tv_sec: 20, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = UInt16(port).bigEndian
    let connected = withUnsafePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
        }
    }
    guard connected else { return nil }
    let request = Array("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".utf8)
    guard request.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, 0) }) == request.count else { return nil }
    var answer: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 4096)
    while true {
        let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if count == 0 { break }
        guard count > 0 else { return nil }
        answer += chunk[0..<count]
    }
    return String(decoding: answer, as: UTF8.self)
}

/// A flag one thread sets and another reads.
final class Flag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false

    var isSet: Bool {
        self.lock.lock()
        defer { self.lock.unlock() }
        return self.value
    }

    func set() {
        self.lock.lock()
        self.value = true
        self.lock.unlock()
    }
}
