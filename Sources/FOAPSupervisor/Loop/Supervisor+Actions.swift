#if canImport(Glibc)
import Glibc
#endif

extension Supervisor {
    /// Executes actions in order; actions that produce events (spawn, load) feed them back immediately.
    func execute(_ actions: [SupervisorAction]) {
        var queue = actions[...]
        while let action = queue.popFirst() {
            queue += self.perform(action)
        }
    }

    private func perform(_ action: SupervisorAction) -> [SupervisorAction] {
        let now = ContinuousClock.now
        switch action {
        case .spawnWorker(let id, let slot, let generation):
            return self.spawnWorker(id, slot: slot, generation: generation, now: now)
        case .send(let message, let id):
            self.send(message, to: id, now: now)
            return []
        case .killWorker(_, let pid):
            kill(pid, SIGKILL)
            return []
        case .loadConfig(let forced, let allowingNoModels):
            let outcome = self.configuration.loadConfig()
            return self.machine.configLoaded(
                outcome, forced: forced, allowingNoModels: allowingNoModels, now: ContinuousClock.now
            )
        case .keepSnapshot(let generation, let snapshot):
            self.snapshots[generation] = snapshot
            return []
        case .releaseSnapshot(let generation):
            self.snapshots[generation] = nil
            return []
        case .notifyReady(let status):
            self.notifier?.ready(status: status)
            return []
        case .notifyReloading(let status):
            self.notifier?.reloading(status: status)
            return []
        case .notifyStopping(let status):
            self.notifier?.stopping(status: status)
            return []
        case .refuseNewConnections:
            self.refuseNewConnections()
            return []
        case .notifyStatus(let status):
            self.notifier?.status(status)
            return []
        case .log(let event):
            self.log(event)
            return []
        case .answerReload(let id, let outcome):
            self.answerReload(id, outcome)
            return []
        case .exit(let code):
            self.exitCode = code
            return []
        }
    }

    /// Without systemd nothing keeps the listeners for a next start: connections queued on them while the workers
    /// drain would wait out the whole drain and then be reset when the master exits. Shutting the listeners down
    /// now refuses them at once (as nginx's graceful stop does), so clients and load balancers retry elsewhere;
    /// what the workers already accepted finishes. Under systemd the socket (activation) or the fd store keeps them
    /// for the next master, and shutting them down would close them for it too.
    private func refuseNewConnections() {
        guard self.notifier == nil, let listeners = self.listeners, listeners.origin == .opened else { return }
        for fd in listeners.allDescriptors {
            shutdown(fd, Int32(SHUT_RD))
        }
        self.logger.info(
            "listeners shut",
            metadata: ["address": "\(listeners.boundAddress)", "reason": "stopping without systemd to keep them"])
    }

    private func spawnWorker(_ id: WorkerID, slot: Int, generation: Int, now: ContinuousClock.Instant)
        -> [SupervisorAction]
    {
        guard let listeners = self.listeners, let snapshot = self.snapshots[generation] else {
            return self.machine.workerSpawnFailed(id, reason: "no snapshot for generation \(generation)", now: now)
        }
        var limits: (fd: Int32, holder: Int)?
        if let shared = self.configuration.sharedLimits {
            guard let holder = self.limitsHolders.assign(id) else {
                return self.machine.workerSpawnFailed(
                    id, reason: "every holder id of the limits region is taken (\(shared.holders) live workers)",
                    now: now)
            }
            limits = (shared.fd, holder)
        }
        do {
            let worker = try self.spawner.spawn(
                slot: slot,
                generation: generation,
                listeners: listeners.perSlot[slot],
                snapshot: snapshot,
                limits: limits
            )
            self.channels[id] = ChannelToWorker(fd: worker.channelFD)
            return self.machine.workerSpawned(id, pid: worker.pid)
        } catch {
            self.reclaimLimits(of: id)
            return self.machine.workerSpawnFailed(id, reason: "\(error)", now: now)
        }
    }
}
