import NIOCore

/// A command on its way to the wire with the promise its reply completes.
struct RedisRequest {
    let command: RedisCommand
    let promise: EventLoopPromise<RESPValue>
    let timeout: TimeAmount?
}

/// Pipelining on one channel: requests are written as they come and their promises queued; Redis answers in order,
/// so each reply completes the oldest promise. Pushes (RESP3 out-of-band data) complete nothing.
///
/// A call that times out closes the channel: its reply may still come, and every reply after it would then go to
/// the wrong caller. Closing fails every queued call, which the client turns into a reconnect.
final class RedisConnectionHandler: ChannelDuplexHandler {
    typealias InboundIn = RESPValue
    typealias OutboundIn = RedisRequest
    typealias OutboundOut = ByteBuffer

    private struct Pending {
        let command: String
        let promise: EventLoopPromise<RESPValue>
        let timeout: Scheduled<Void>?
    }

    private var pending = CircularBuffer<Pending>(initialCapacity: 16)
    /// Set once the channel is gone (or broken): later writes fail at once instead of waiting for a reply.
    private var closedError: RedisError?

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let request = self.unwrapOutboundIn(data)
        if let closedError = self.closedError {
            request.promise.fail(closedError)
            promise?.fail(closedError)
            return
        }
        var buffer = context.channel.allocator.buffer(capacity: 64)
        RESPEncoder.encode(request.command, into: &buffer)
        let timeout = request.timeout.map { timeout in
            return context.eventLoop.assumeIsolated().scheduleTask(in: timeout) { [self] in
                self.timedOut(context: context)
            }
        }
        self.pending.append(Pending(command: request.command.name, promise: request.promise, timeout: timeout))
        context.write(self.wrapOutboundOut(buffer), promise: promise)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let value = self.unwrapInboundIn(data)
        if case .push = value {
            return
        }
        guard let request = self.pending.popFirst() else {
            // A reply nobody asked for: the stream is out of step, so nothing after it can be trusted.
            self.failAll(RedisError.server("a reply arrived with no command waiting for it"))
            context.close(promise: nil)
            return
        }
        request.timeout?.cancel()
        if let message = value.errorMessage {
            request.promise.fail(RedisError.server(message))
        } else {
            request.promise.succeed(value)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.failAll(.connectionClosed)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.failAll(.connectionClosed, first: error)
        context.close(promise: nil)
    }

    /// Every queued call is as late as the one whose time ran out (replies come in order), so all of them time out.
    private func timedOut(context: ChannelHandlerContext) {
        self.closedError = self.closedError ?? .connectionClosed
        while let request = self.pending.popFirst() {
            request.timeout?.cancel()
            request.promise.fail(RedisError.timeout(command: request.command))
        }
        context.close(promise: nil)
    }

    /// Fails every queued call: the oldest (whose reply was broken) with `first`, the rest with `error`.
    private func failAll(_ error: RedisError, first: (any Error)? = nil) {
        self.closedError = self.closedError ?? error
        var firstError = first
        while let request = self.pending.popFirst() {
            request.timeout?.cancel()
            request.promise.fail(firstError ?? error)
            firstError = nil
        }
    }
}
