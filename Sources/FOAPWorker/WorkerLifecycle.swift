import FOAPProxy
import FOAPWorkerChannel
import Logging
import NIOCore

/// One worker process's life as its master sees it, over the worker channel: `ready` once set up; accepting only
/// after the master's `accept`; a `heartbeat` (with the metrics that changed) every `heartbeatInterval` from the event
/// loop itself, so a stuck loop (not only a dead process) goes quiet; `draining` once it stopped accepting after a
/// `drain` (or SIGTERM, or the master's end closing); and every series in one last report before it returns.
public struct WorkerLifecycle: Sendable {
    public let runtime: ProxyRuntime
    public let channel: ChannelToMaster
    public let heartbeatInterval: TimeAmount

    /// - Parameter runtime: its `metricsSource` is replaced: `GET /metrics` asks the master for every worker's sum.
    public init(runtime: ProxyRuntime, channel: ChannelToMaster, heartbeatInterval: TimeAmount = .milliseconds(500)) {
        var runtime = runtime
        runtime.metricsSource = { reply in channel.requestExposition(reply) }
        self.runtime = runtime
        self.channel = channel
        self.heartbeatInterval = heartbeatInterval
    }

    /// Runs until the drain ends.
    /// - Parameter drain: the caller may fire it too (SIGTERM); the master's `drain`, or its end of the channel
    ///   closing, fire it here.
    public func run(listeners: ListenerSource, drain: OneShotSignal) async throws {
        let channel = self.channel
        let logger = self.runtime.logger
        let metrics = self.runtime.metrics
        let models = self.runtime.snapshot.models.count
        let accept = OneShotSignal()
        channel.startReceiving(
            onAccept: { accept.fire() },
            onDrain: { drain.fire() },
            onMasterGone: {
                logger.warning("master is gone; draining")
                drain.fire()
            }
        )
        try await self.runtime.run(
            listeners: listeners,
            drain: drain,
            acceptGate: accept,
            ready: { _ in
                channel.send(.ready)
                logger.debug("worker ready", metadata: ["models": .stringConvertible(models)])
            },
            listenersClosed: { channel.send(.draining) },
            heartbeatInterval: self.heartbeatInterval,
            heartbeat: {
                channel.send(.heartbeat)
                // Cumulative totals, only when they changed: the master adds every worker's up.
                if let report = metrics.render(onlyIfChanged: true) {
                    channel.sendMetricsReport(report)
                }
            }
        )
        // The requests finished since the last heartbeat: the master reads this before it sees the exit.
        if let report = metrics.render() {
            channel.sendMetricsReport(report, everything: true)
        }
    }
}
