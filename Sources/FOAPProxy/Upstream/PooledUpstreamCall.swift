import FOAPHTTP1
import NIOCore
import NIOHTTP1

/// One plain-HTTP upstream request over the loop's `UpstreamPool`: take or open a connection, write the request,
/// relay the response to the sink, give the connection back when both sides allow it.
///
/// Loop-bound: runs on the client connection's event loop, which is also the upstream connection's loop.
final class PooledUpstreamCall: UpstreamCall {
    private let pool: UpstreamPool
    private let target: PlainUpstreamTarget
    private let method: HTTPMethod
    /// The request, encoded (`HTTPRequestWriter`): its head with a small body, or its head alone and the large body
    /// apart (`separateBody`, written after it without a copy). Kept so it can be replayed on a fresh connection
    /// (see `connectionLost`).
    private let request: ByteBuffer
    private let separateBody: ByteBuffer?
    /// Where `request`'s buffer goes back once the call is over (the loop's recycled buffers).
    private let buffers: BufferRecycler?
    /// Cleared when the call is over (ended, failed or cancelled), which also breaks the exchange ↔ call cycle.
    private var sink: (any UpstreamResponseSink)?
    /// The exchange's attempt this call carries, handed back with every part.
    private let attempt: ExchangeStateMachine.AttemptID
    private var connection: UpstreamConnection?
    private var reused = false
    private var retried = false
    /// The whole request went to the kernel on the current connection: from then on the upstream may have it.
    private var requestWritten = false
    private var responseStarted = false
    private var upstreamKeepAlive = true

    init(
        pool: UpstreamPool,
        target: PlainUpstreamTarget,
        method: HTTPMethod,
        request: ByteBuffer,
        separateBody: ByteBuffer?,
        buffers: BufferRecycler? = nil,
        sink: any UpstreamResponseSink,
        attempt: ExchangeStateMachine.AttemptID
    ) {
        self.attempt = attempt
        self.pool = pool
        self.target = target
        self.method = method
        self.request = request
        self.separateBody = separateBody
        self.buffers = buffers
        self.sink = sink
    }

    func start() {
        if let connection = self.pool.takeIdle(self.target) {
            self.send(on: connection, reused: true)
        } else {
            self.connectFresh()
        }
    }

    /// Cancels the call: the upstream connection is closed at once (it is mid-response, so not reusable) and
    /// the sink hears `reason`, as with `HTTPClient.Task.fail(reason:)`.
    func fail(reason: Error) {
        guard let sink = self.sink else { return }
        self.sink = nil
        self.detachConnection()?.close()
        sink.upstreamFailed(reason, attempt: self.attempt)
    }

    // MARK: From the relay handler

    /// Hands the head on; returns what the relay must wait for before reading on (nil: nothing).
    func received(head: HTTPReceivedResponseHead, keepAlive: Bool) -> EventLoopFuture<Void>? {
        guard let sink = self.sink else { return nil }
        self.responseStarted = true
        self.upstreamKeepAlive = keepAlive
        return sink.upstreamHead(head, attempt: self.attempt)
    }

    func received(body: ByteBuffer) -> EventLoopFuture<Void>? {
        guard let sink = self.sink else { return nil }
        return sink.upstreamBodyPart(body, attempt: self.attempt)
    }

    func flushClient() {
        self.sink?.upstreamReadComplete(attempt: self.attempt)
    }

    func receivedEnd() {
        guard let sink = self.sink else { return }
        self.sink = nil
        // The request is not replayed any more: its buffer can carry the next one.
        self.buffers?.recycle(self.request)
        // Released before the sink hears the end: finishing the exchange may start the client's next (pipelined)
        // request at once, and that one should find this connection idle.
        if let connection = self.detachConnection() {
            if self.upstreamKeepAlive {
                self.pool.release(connection)
            } else {
                connection.close()
            }
        }
        sink.upstreamEnd(attempt: self.attempt)
    }

    func connectionLost(_ error: Error) {
        guard let sink = self.sink else { return }
        self.detachConnection()?.close()
        // The keep-alive race: an idle upstream connection may be closed by the upstream just as we reuse it, and
        // the request then fails before any response byte. It is replayed once on a fresh connection only when the
        // upstream provably did not get it — the write failed before the whole request was out — or when it may
        // safely get it twice (GET, HEAD: RFC 9110 §9.2.2). A POST that was written whole may be running upstream
        // already (a chat billed, an image made): replaying it would do it twice, so it fails like any other
        // connection lost before the answer (as nginx does for non-idempotent requests).
        let idempotent = self.method.isGET || self.method.isHEAD
        if self.reused, !self.responseStarted, !self.retried, !self.requestWritten || idempotent {
            self.retried = true
            self.connectFresh()
            return
        }
        self.sink = nil
        sink.upstreamFailed(error, attempt: self.attempt)
    }

    // MARK: Private

    private func connectFresh() {
        self.pool.connect(self.target) { result in
            switch result {
            case .success(let connection):
                guard self.sink != nil else {
                    connection.close()  // cancelled while connecting
                    return
                }
                self.send(on: connection, reused: false)
            case .failure(let error):
                guard let sink = self.sink else { return }
                self.sink = nil
                sink.upstreamFailed(error, attempt: self.attempt)
            }
        }
    }

    private func send(on connection: UpstreamConnection, reused: Bool) {
        self.connection = connection
        self.reused = reused
        self.requestWritten = false
        connection.relay.call = self
        let relay = connection.relay
        self.requestFlushed(relay.send(self.request, then: self.separateBody, answeredAs: self.method), by: relay)
    }

    /// How far the request got once `relay` flushed it (at once, or at the end of the loop's batch of events).
    /// Only while `relay`'s connection still carries this call: its loss may have been handled, and a retry may
    /// have moved on already, before the flush returned.
    func requestFlushed(_ write: UpstreamRelayHandler.RequestWrite, by relay: UpstreamRelayHandler) {
        guard let connection = self.connection, connection.relay === relay else { return }
        switch write {
        case .queued:
            break
        case .written:
            self.requestWritten = true
        case .pending(let written):
            written.assumeIsolated().whenComplete { [weak connection] result in
                // Only if this write's connection still carries this call (a retry may have moved on already).
                guard let connection, connection === self.connection else { return }
                switch result {
                case .success:
                    self.requestWritten = true
                case .failure(let error):
                    self.connectionLost(error)
                }
            }
        case .notSent:
            self.connectionLost(UpstreamConnectionClosedError())
        }
    }

    private func detachConnection() -> UpstreamConnection? {
        guard let connection = self.connection else { return nil }
        self.connection = nil
        connection.relay.call = nil
        return connection
    }
}

@available(*, unavailable)
extension PooledUpstreamCall: Sendable {}
