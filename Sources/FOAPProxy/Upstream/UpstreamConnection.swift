import NIOCore

/// One pooled HTTP/1.1 connection to a plain-HTTP upstream, on its pool's event loop.
///
/// Loop-bound like its pool: created, used, released and closed only on that loop.
final class UpstreamConnection {
    let key: UpstreamPool.Key
    /// The pool slot of its host and port (`PlainUpstreamTarget.slot`), if its target had one.
    let slot: Int?
    let channel: Channel
    let relay: UpstreamRelayHandler
    /// When the connection was last put back into the pool (for the idle timeout).
    var idleSince: NIODeadline = .now()

    init(key: UpstreamPool.Key, slot: Int? = nil, channel: Channel, relay: UpstreamRelayHandler) {
        self.key = key
        self.slot = slot
        self.channel = channel
        self.relay = relay
    }

    var isActive: Bool { self.channel.isActive }

    func close() {
        self.relay.call = nil
        self.channel.close(promise: nil)
    }
}

@available(*, unavailable)
extension UpstreamConnection: Sendable {}
