import FOAPSystemd
import FOAPWorkerChannel
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// The master process of `foap serve`: one thread, one poll(2) loop, no proxy code.
///
/// It owns the listeners, the config snapshot of each generation, the inotify watch, the signals and the worker
/// table, and drives `SupervisorStateMachine`: read an event (signal, worker channel packet, file change, `foap ctl`
/// command on the control socket, deadline), feed it to the state machine, execute the actions it returns (spawn,
/// drain, kill, sd_notify, log). It never blocks on a worker: what a worker channel does not take at once waits in
/// that channel's outbox until poll(2) says it is writable.
///
/// - Important: `run()` blocks SIGHUP, SIGTERM, SIGINT and SIGCHLD before anything else and reads them from a
///   signalfd. The caller must not have started threads that expect to receive those signals; threads started
///   before `run()` keep their own mask and could steal them.
public final class Supervisor {
    let configuration: SupervisorConfiguration
    var logger: Logger
    var machine: SupervisorStateMachine
    var debouncer: Debouncer
    /// The master's end of each live worker's channel.
    var channels: [WorkerID: ChannelToWorker] = [:]
    var snapshots: [Int: [UInt8]] = [:]
    var exitCode: Int32?
    var notifier: SystemdNotifier?
    var listeners: ListenerSet?
    var spawner: WorkerSpawner
    /// The `foap ctl` control socket, if configured.
    var controlServer: ControlServer?
    var metrics = MetricsAggregator()
    /// Holder ids of the shared limits region, one per live worker.
    var limitsHolders: LimitsHolders
    let startedAt = ContinuousClock.now

    public init(configuration: SupervisorConfiguration, logger: Logger) {
        precondition(configuration.workers > 0, "workers must be at least 1")
        self.configuration = configuration
        self.logger = logger
        self.logger[metadataKey: "pid"] = "\(getpid())"
        self.machine = SupervisorStateMachine(
            workerCount: configuration.workers,
            timeouts: .init(
                ready: configuration.readyTimeout,
                heartbeat: configuration.heartbeatTimeout,
                drain: configuration.drainTimeout
            )
        )
        self.debouncer = Debouncer(delay: configuration.reloadDebounce)
        self.spawner = WorkerSpawner(executablePath: configuration.executablePath)
        self.limitsHolders = LimitsHolders(count: configuration.sharedLimits?.holders ?? 0)
    }

    /// Runs the master until every worker has exited after SIGTERM/SIGINT.
    /// - Returns: the exit code: 0 after a clean drain, 1 when workers had to be SIGKILLed (second signal or drain
    ///   timeout) or the first config was invalid.
    /// - Throws: `SystemCallError` when the signalfd, the listeners or the inotify watch cannot be set up.
    public func run() throws -> Int32 {
        let signals = try SignalSource(signals: [SIGHUP, SIGTERM, SIGINT, SIGCHLD])
        self.notifier = SystemdNotifier()
        let listeners = try ListenerSet.make(
            host: self.configuration.host,
            port: self.configuration.port,
            slots: self.configuration.workers,
            systemdSockets: SystemdListenFDs.take()
        )
        self.listeners = listeners
        self.logger.info(
            "listening",
            metadata: [
                "address": "\(listeners.boundAddress)", "listeners": "\(listeners.allDescriptors.count)",
                "origin": "\(listeners.origin.rawValue)",
            ]
        )
        if let notifier = self.notifier, listeners.origin != .socketActivation {
            notifier.storeFileDescriptors(listeners.allDescriptors, name: ListenerSet.storeName)
        }
        let watcher = try ConfigDirectoryWatcher(
            directory: self.configuration.configDirectory,
            extraPaths: self.configuration.extraWatchedPaths
        )
        if let path = self.configuration.controlSocketPath {
            self.controlServer = try ControlServer(path: path)
            self.logger.info("control socket", metadata: ["path": "\(path)"])
        }
        defer { self.controlServer = nil }
        let watchdogInterval = self.notifier == nil ? nil : SystemdWatchdog.pingInterval()
        var nextWatchdog = ContinuousClock.now

        self.execute(self.machine.started(outcome: self.configuration.loadConfig(), now: .now))

        while self.exitCode == nil {
            var now = ContinuousClock.now
            self.execute(self.machine.tick(now: now))
            self.controlServer?.dropSilentClients(now: now)
            if self.debouncer.fireIfDue(now: now) {
                self.execute(self.machine.reloadRequested(forced: false))
            }
            if let interval = watchdogInterval, nextWatchdog <= now {
                if self.machine.isHealthy(now: now) {
                    self.notifier?.watchdog()
                }
                nextWatchdog = now + interval
            }
            guard self.exitCode == nil else {
                break
            }
            self.flushExpiredOutboxes(now: now)
            let deadlines = [
                self.machine.nextDeadline, self.debouncer.deadline, watchdogInterval == nil ? nil : nextWatchdog,
                self.controlServer?.nextDeadline,
            ] + self.channels.values.map(\.outbox.deadline)
            let ready = self.waitForEvents(signals: signals, watcher: watcher, until: deadlines.compactMap { $0 }.min())
            now = ContinuousClock.now
            if ready.signals {
                self.handleSignals(signals.readPending(), now: now)
            }
            if ready.watcher {
                let change = watcher.readEvents()
                if change.needsRewatch {
                    watcher.rewatch()
                }
                if change.relevant {
                    self.debouncer.eventReceived(now: now)
                }
            }
            for id in ready.writableChannels {
                self.flushOutbox(id, now: ContinuousClock.now)
            }
            for id in ready.readableChannels {
                self.handleChannelReadable(id, now: ContinuousClock.now)
            }
            if ready.controlListener {
                self.controlServer?.acceptPending(now: ContinuousClock.now)
            }
            for id in ready.controlClients {
                self.handleControlClient(id)
            }
        }
        for channel in self.channels.values {
            close(channel.fd)
        }
        self.channels = [:]
        return self.exitCode ?? 0
    }

    private struct Readiness {
        var signals = false
        var watcher = false
        /// Worker channels with something to read, or closed.
        var readableChannels: [WorkerID] = []
        /// Worker channels with room for what waits in their outbox.
        var writableChannels: [WorkerID] = []
        var controlListener = false
        var controlClients: [ControlClientID] = []
    }

    private func waitForEvents(
        signals: SignalSource,
        watcher: ConfigDirectoryWatcher,
        until deadline: ContinuousClock.Instant?
    ) -> Readiness {
        let workers = self.channels.sorted { $0.key < $1.key }
        var fds = [pollfd(fd: signals.fd, events: Int16(POLLIN), revents: 0)]
        fds.append(pollfd(fd: watcher.fd, events: Int16(POLLIN), revents: 0))
        fds += workers.map { worker in
            let events = worker.value.outbox.isEmpty ? POLLIN : POLLIN | POLLOUT
            return pollfd(fd: worker.value.fd, events: Int16(events), revents: 0)
        }
        let clients = self.controlServer?.clientDescriptors ?? []
        if let server = self.controlServer {
            fds.append(pollfd(fd: server.fd, events: Int16(POLLIN), revents: 0))
            fds += clients.map { pollfd(fd: $0.1, events: Int16(POLLIN), revents: 0) }
        }
        let timeout = deadline.map { ContinuousClock.now.duration(to: $0).pollMilliseconds } ?? -1
        let count = poll(&fds, nfds_t(fds.count), timeout)
        var readiness = Readiness()
        guard count > 0 else {
            return readiness
        }
        readiness.signals = fds[0].revents != 0
        readiness.watcher = fds[1].revents != 0
        for (index, worker) in workers.enumerated() {
            let revents = Int32(fds[index + 2].revents)
            if revents & ~POLLOUT != 0 {
                readiness.readableChannels.append(worker.key)
            }
            if revents & POLLOUT != 0 {
                readiness.writableChannels.append(worker.key)
            }
        }
        let controlBase = workers.count + 2
        if self.controlServer != nil {
            readiness.controlListener = fds[controlBase].revents != 0
            for (index, client) in clients.enumerated() where fds[controlBase + 1 + index].revents != 0 {
                readiness.controlClients.append(client.0)
            }
        }
        return readiness
    }

    private func handleSignals(_ signals: [Int32], now: ContinuousClock.Instant) {
        for signal in signals {
            switch signal {
            case SIGCHLD:
                self.reapChildren(now: now)
            case SIGHUP:
                self.logger.info("SIGHUP: reloading configuration")
                self.execute(self.machine.reloadRequested(forced: true))
            case SIGTERM, SIGINT:
                self.logger.info("shutdown requested", metadata: ["signal": "\(WorkerExitStatus.signalName(signal))"])
                self.execute(self.machine.shutdownRequested(now: now))
            default:
                break
            }
        }
    }

    private func reapChildren(now: ContinuousClock.Instant) {
        while true {
            var status: Int32 = 0
            let pid = waitpid(-1, &status, WNOHANG)
            guard pid > 0 else {
                return
            }
            let worker = self.machine.workers.values.first { $0.pid == pid }?.id
            if let worker {
                // What it sent before it exited (its last metrics report, a `draining`) comes first.
                self.handleChannelReadable(worker, now: now)
            }
            self.execute(self.machine.workerExited(pid: pid, status: WorkerExitStatus(waitStatus: status), now: now))
            if let worker {
                self.metrics.retire(worker)
                self.reclaimLimits(of: worker)
            }
        }
    }

    func handleChannelReadable(_ id: WorkerID, now: ContinuousClock.Instant) {
        guard let fd = self.channels[id]?.fd else {
            return
        }
        let result = ChannelToWorker.readAvailable(fd: fd)
        for message in result.messages {
            self.execute(self.machine.messageReceived(message, from: id, now: now))
        }
        for report in result.metricsReports {
            self.metrics.update(id, report: report[...])
        }
        if result.metricsRequests > 0 {
            let text = self.exposition()
            let packets = ChannelToWorker.exposition(text)
            self.channels[id]?.outbox.enqueue(
                .exposition(bytes: text.utf8.count), packets, deadline: now + Self.expositionTimeout
            )
            self.flushOutbox(id, now: now)
        }
        if result.closed, let channel = self.channels.removeValue(forKey: id) {
            // The worker closed its end (it is exiting); SIGCHLD will report the exit itself.
            close(channel.fd)
        }
    }

    /// How long a metrics answer may wait for room in a worker's channel before it is dropped (the scrape then gets
    /// a 503 from the worker's own timeout).
    static let expositionTimeout = Duration.seconds(1)

    /// Queues a lifecycle word for a worker and sends what its channel takes now.
    func send(_ message: MasterMessage, to id: WorkerID, now: ContinuousClock.Instant) {
        guard self.channels[id] != nil else {
            return  // its channel closed: the worker is exiting
        }
        self.channels[id]?.outbox.enqueue(.message(message), [.master(message)])
        self.flushOutbox(id, now: now)
    }

    /// Sends what waits for a worker until its channel is full; logs what had to be dropped.
    func flushOutbox(_ id: WorkerID, now: ContinuousClock.Instant) {
        guard let fd = self.channels[id]?.fd,
            let result = self.channels[id]?.outbox.flush(now: now, send: { ChannelSocket.send($0, fd: fd) })
        else {
            return
        }
        for item in result.dropped {
            switch item {
            case .message(let message):
                self.logger.warning("could not send \(message.rawValue)", metadata: ["worker_id": "\(id.rawValue)"])
            case .exposition(let bytes):
                self.logger.warning(
                    "metrics did not fit the worker's channel; the scrape gets a 503",
                    metadata: ["worker_id": "\(id.rawValue)", "bytes": "\(bytes)"]
                )
            }
        }
    }

    /// Drops the metrics answers whose time ran out in channels that never became writable.
    private func flushExpiredOutboxes(now: ContinuousClock.Instant) {
        for (id, channel) in self.channels.sorted(by: { $0.key < $1.key }) {
            if let deadline = channel.outbox.deadline, deadline <= now {
                self.flushOutbox(id, now: now)
            }
        }
    }
}

extension Supervisor {
    /// A worker is gone: the concurrency slots it still held in the limits region (a crash mid-request, a kill)
    /// are given back before its holder id can go to another worker.
    func reclaimLimits(of worker: WorkerID) {
        guard let limits = self.configuration.sharedLimits, let holder = self.limitsHolders.release(worker) else {
            return
        }
        let given = limits.reclaim(holder)
        if given > 0 {
            self.logger.notice(
                "gave back the limit slots of a worker that exited",
                metadata: ["worker_id": "\(worker)", "holder": "\(holder)", "slots": "\(given)"]
            )
        }
    }
}
