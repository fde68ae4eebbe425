import NIOCore
import NIOHTTP1

/// Ends a keep-alive connection gracefully when the worker drains, without losing a request to the keep-alive
/// race.
///
/// On `ChannelShouldQuiesceEvent` (sent by NIO's `ServerQuiescingHelper` once the listener is closed):
/// - a request in flight is answered with `Connection: close`, and the connection closes after its `.end`; with
///   pipelined requests already received, only the last answer says so, so none of them is dropped unanswered;
/// - a response whose head already went out without that header is followed by a short idle grace instead;
/// - an idle connection is closed only after it has sat idle for `idleGrace`. A request that arrives meanwhile is
///   served (with `Connection: close`). Closing at once would reset requests clients are sending at that moment.
///
/// It sits between the HTTP codec and NIO's pipelining handler and consumes the quiesce event, so exactly one
/// handler owns "connection: close on drain" (NIO's pipelining handler would close idle connections at once).
final class DrainHandler: ChannelDuplexHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private let idleGrace: TimeAmount
    private var draining = false
    /// Requests whose head arrived and whose response has not ended yet (more than one when pipelined).
    private var requestsInFlight = 0
    /// Whether the response being written announced `Connection: close`.
    private var currentResponseCloses = false
    private var idleTimer: Scheduled<Void>?

    init(idleGrace: TimeAmount) {
        self.idleGrace = idleGrace
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head = self.unwrapInboundIn(data) {
            self.requestsInFlight += 1
            self.idleTimer?.cancel()
            self.idleTimer = nil
        }
        context.fireChannelRead(data)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard event is ChannelShouldQuiesceEvent else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        guard !self.draining else { return }
        self.draining = true
        if self.requestsInFlight == 0 {
            self.armIdleTimer(context: context)
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch self.unwrapOutboundIn(data) {
        case .head(var head) where head.status.code >= 200:
            if self.draining && self.requestsInFlight <= 1 {
                head.headers.replaceOrAdd(name: "Connection", value: "close")
            }
            self.currentResponseCloses = head.headers[canonicalForm: "connection"].contains { $0.lowercased() == "close" }
            context.write(self.wrapOutboundOut(.head(head)), promise: promise)
        case .end:
            self.requestsInFlight = max(0, self.requestsInFlight - 1)
            let closes = self.currentResponseCloses
            self.currentResponseCloses = false
            guard self.draining else {
                context.write(data, promise: promise)
                return
            }
            let written = promise ?? context.eventLoop.makePromise()
            context.write(data, promise: written)
            if closes {
                written.futureResult.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
            } else if self.requestsInFlight == 0 {
                self.armIdleTimer(context: context)
            }
        default:
            context.write(data, promise: promise)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.idleTimer?.cancel()
        self.idleTimer = nil
        context.fireChannelInactive()
    }

    private func armIdleTimer(context: ChannelHandlerContext) {
        self.idleTimer?.cancel()
        self.idleTimer = context.eventLoop.assumeIsolated().scheduleTask(in: self.idleGrace) {
            context.close(promise: nil)
        }
    }
}

@available(*, unavailable)
extension DrainHandler: Sendable {}
