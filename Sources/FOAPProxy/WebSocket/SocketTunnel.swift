import NIOCore

/// A WebSocket tunnelled between a client and an upstream, from the `101` on: the bytes each way (for the access
/// record and the metrics), how it ended, and the exchange told once when it does.
///
/// Loop-bound: both channels of a tunnel live on the client connection's event loop.
final class SocketTunnel {
    enum Side: Sendable {
        case client
        case upstream
    }

    /// Bytes read from the client (frames written upstream).
    private(set) var clientBytes = 0
    /// Bytes read from the upstream (frames written to the client).
    private(set) var upstreamBytes = 0
    /// The side whose connection ended first; nil while open.
    private(set) var endedBy: Side?
    /// The first error either side reported (a reset, a TLS failure), for the record.
    private(set) var error: Error?
    private let metrics: RequestMetrics
    private var onEnd: ((SocketTunnel) -> Void)?

    /// - Parameter onEnd: called once, when either side's connection has closed (the other is then closing).
    init(metrics: RequestMetrics, onEnd: @escaping (SocketTunnel) -> Void) {
        self.metrics = metrics
        self.onEnd = onEnd
        metrics.webSocketOpened()
    }

    func read(_ count: Int, on side: Side) {
        switch side {
        case .client: self.clientBytes += count
        case .upstream: self.upstreamBytes += count
        }
        self.metrics.webSocketBytes(count, fromClient: side == .client)
    }

    func failed(_ side: Side, _ error: Error) {
        self.error = self.error ?? error
    }

    func closed(by side: Side) {
        guard self.endedBy == nil else { return }
        self.endedBy = side
        self.metrics.webSocketClosed()
        let onEnd = self.onEnd
        self.onEnd = nil
        onEnd?(self)
    }
}

@available(*, unavailable)
extension SocketTunnel: Sendable {}
