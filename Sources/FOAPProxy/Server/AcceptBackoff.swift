#if canImport(Glibc)
import Glibc
#endif
import Logging
import NIOCore

/// On a listener: when `accept` fails (out of file descriptors, memory, …), pauses accepting for `backoff` and says
/// why — once per interval in the log, every time in the metrics — so that running out of descriptors is visible
/// instead of silent. Connections wait in the kernel's queue meanwhile (nginx pauses accepts for 500 ms the same way).
///
/// Without it a listener at the fd limit stays readable and every `accept4` fails at once: the worker spun at 100 %
/// CPU and logged nothing. NIO's `AcceptBackoffHandler` does not help on this path: it only delays the *next*
/// `read()`, but a server channel whose accept failed keeps its read pending and its epoll registration, so the
/// loop spun anyway (53,116 failed accepts in one second in `FileDescriptorLimitTests`). Turning `autoRead` off
/// drops the registration; turning it back on re-registers.
final class AcceptBackoff: ChannelInboundHandler {
    typealias InboundIn = Channel
    typealias InboundOut = Channel

    /// How long accepts pause after a failure.
    static let backoff: TimeAmount = .milliseconds(500)
    /// At most one log line per interval; the failures in between are counted into the next line.
    static let logInterval: TimeAmount = .seconds(10)

    private let logger: Logger
    private let metrics: RequestMetrics
    private var lastLogged: NIODeadline?
    private var unlogged = 0
    private var resume: Scheduled<Void>?

    init(logger: Logger, metrics: RequestMetrics) {
        self.logger = logger
        self.metrics = metrics
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        guard let ioError = error as? IOError else {
            context.fireErrorCaught(error)
            return
        }
        self.metrics.acceptFailed(reason: Self.errnoName(ioError.errnoCode))
        self.pause(context: context)
        self.report(ioError)
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.resume?.cancel()
        self.resume = nil
        context.fireChannelInactive()
    }

    private func pause(context: ChannelHandlerContext) {
        guard self.resume == nil, let options = context.channel.syncOptions else { return }
        try? options.setOption(.autoRead, value: false)
        self.resume = context.eventLoop.assumeIsolated().scheduleTask(in: Self.backoff) {
            self.resume = nil
            if context.channel.isActive {
                try? context.channel.syncOptions?.setOption(.autoRead, value: true)
            }
        }
    }

    private func report(_ error: IOError) {
        self.unlogged += 1
        let now = NIODeadline.now()
        if let last = self.lastLogged, now - last < Self.logInterval {
            return
        }
        self.lastLogged = now
        let failures = self.unlogged
        self.unlogged = 0
        self.logger.error(
            "accepting connections failed; pausing accepts",
            metadata: [
                "error": .string(Self.errnoName(error.errnoCode)), "detail": .string(String(describing: error)),
                "failures": .stringConvertible(failures),
                "pause_ms": .stringConvertible(Self.backoff.nanoseconds / 1_000_000),
            ]
        )
    }

    static func errnoName(_ code: CInt) -> String {
        switch code {
        case EMFILE: return "EMFILE"
        case ENFILE: return "ENFILE"
        case ENOBUFS: return "ENOBUFS"
        case ENOMEM: return "ENOMEM"
        default: return "errno_\(code)"
        }
    }
}

@available(*, unavailable)
extension AcceptBackoff: Sendable {}
