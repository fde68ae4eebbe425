import NIOCore
import NIOHTTP1

/// Ends keep-alive connections gracefully: when the worker drains, without losing a request to the keep-alive
/// race, and when a connection has sat idle between requests for `keepAliveTimeout` (so idle clients cannot hold
/// file descriptors forever; nginx's `keepalive_timeout` does the same).
///
/// On `ChannelShouldQuiesceEvent` (sent by NIO's `ServerQuiescingHelper` once the listener is closed):
/// - a request in flight is answered with `Connection: close`, and the connection closes after its `.end`; with
///   pipelined requests already received, only the last answer says so, so none of them is dropped unanswered;
/// - a response whose head already went out without that header is followed by a short idle grace instead;
/// - an idle connection is closed only after it has sat idle for `idleGrace`. A request that arrives meanwhile is
///   served (with `Connection: close`). Closing at once would reset requests clients are sending at that moment.
///
/// Not a pipeline handler of its own: `ProxyConnectionHandler` owns one per connection and tells it what arrives
/// and what is written (every final response head passes `prepare`, every `.end` goes out through `writeEnd`). As
/// a handler between the codec and the connection handler it cost a hop and a dynamic cast per request part and
/// per response part, ~5,000 instructions per request in bench/profile. (NIO's `HTTPServerPipelineHandler` would
/// close idle connections at once; foap does not use it, see `ProxyConnectionHandler`.)
final class ConnectionDrain {
    private let idleGrace: TimeAmount
    private let keepAliveTimeout: TimeAmount?
    private var draining = false
    /// Requests whose head arrived and whose response has not ended yet (more than one when pipelined).
    private var requestsInFlight = 0
    /// Whether the response being written announced `Connection: close`.
    private var currentResponseCloses = false
    /// When the connection last became idle; nil while a request is in flight.
    private var idleSince: NIODeadline?
    /// At most one per connection. It is not moved on every request: when it fires, it closes the connection only
    /// if it has been idle long enough, else sleeps until it would be (cancel + schedule per request cost ~2,800
    /// instructions in bench/profile).
    private var idleTimer: Scheduled<Void>?

    /// - Parameters:
    ///   - idleGrace: while draining, how long an idle connection is kept before it is closed.
    ///   - keepAliveTimeout: outside a drain, how long a connection may sit idle between requests; nil keeps it.
    init(idleGrace: TimeAmount, keepAliveTimeout: TimeAmount? = nil) {
        self.idleGrace = idleGrace
        self.keepAliveTimeout = keepAliveTimeout
    }

    /// The connection is active: idle until its first request.
    func connectionActive(context: ChannelHandlerContext) {
        self.becameIdle(context: context)
    }

    /// A request head arrived (pipelined ones too, as they arrive).
    func requestArrived() {
        self.requestsInFlight += 1
        self.idleSince = nil
    }

    /// The worker drains (`ChannelShouldQuiesceEvent`).
    func quiesce(context: ChannelHandlerContext) {
        guard !self.draining else { return }
        self.draining = true
        // The grace is shorter than the keep-alive timeout and counts from now.
        self.idleTimer?.cancel()
        self.idleTimer = nil
        if self.requestsInFlight == 0 {
            self.becameIdle(context: context)
        }
    }

    /// A response head about to be written: while draining, the last answer owed says `Connection: close`.
    /// Informational (1xx) heads are left alone.
    func prepare(_ head: inout HTTPResponseHead) {
        guard head.status.code >= 200 else { return }
        if self.draining && self.requestsInFlight <= 1 {
            head.headers.replaceOrAdd(name: "Connection", value: "close")
        }
        // Checked for presence first: most responses carry no `Connection` header, and the canonical form
        // splits values into new strings.
        self.currentResponseCloses =
            head.headers.contains(name: "connection")
            && head.headers[canonicalForm: "connection"].contains { $0.lowercased() == "close" }
    }

    /// Writes and flushes a response's `.end`; then the connection is idle, or closes once the end is out when
    /// the response said `Connection: close` during a drain.
    func writeEnd(
        output: some ResponseEndWriting, context: ChannelHandlerContext, promise: EventLoopPromise<Void>?
    ) {
        self.requestsInFlight = max(0, self.requestsInFlight - 1)
        let closes = self.currentResponseCloses
        self.currentResponseCloses = false
        guard self.draining else {
            output.writeAndFlushEnd(promise: promise)
            if self.requestsInFlight == 0 {
                self.becameIdle(context: context)
            }
            return
        }
        let written = promise ?? context.eventLoop.makePromise()
        output.writeAndFlushEnd(promise: written)
        if closes {
            written.futureResult.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
        } else if self.requestsInFlight == 0 {
            self.becameIdle(context: context)
        }
    }

    /// The connection is gone.
    func connectionInactive() {
        self.idleTimer?.cancel()
        self.idleTimer = nil
    }

    /// The idle limit now: the drain grace while draining, else the keep-alive timeout (nil: none).
    private var idleLimit: TimeAmount? { self.draining ? self.idleGrace : self.keepAliveTimeout }

    /// Starts the idle clock; the connection closes once it has been idle for `idleLimit`.
    private func becameIdle(context: ChannelHandlerContext) {
        let now = context.eventLoop.now  // the loop's clock: virtual in tests
        self.idleSince = now
        if self.idleTimer == nil, let limit = self.idleLimit {
            self.scheduleIdleCheck(context: context, at: now + limit)
        }
    }

    private func scheduleIdleCheck(context: ChannelHandlerContext, at deadline: NIODeadline) {
        self.idleTimer = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) {
            self.idleTimer = nil
            // Busy: the end of the response starts the clock again.
            guard let since = self.idleSince, let limit = self.idleLimit else { return }
            if since + limit <= context.eventLoop.now {
                context.close(promise: nil)
            } else {
                self.scheduleIdleCheck(context: context, at: since + limit)
            }
        }
    }
}

@available(*, unavailable)
extension ConnectionDrain: Sendable {}

/// Where the drain writes a response's end (the connection's `ResponseOutput`; a test's recorder).
protocol ResponseEndWriting {
    /// Writes the response's `.end` and flushes; `promise` completes once it is written.
    func writeAndFlushEnd(promise: EventLoopPromise<Void>?)
}
