import AsyncHTTPClient
import NIOCore
import NIOPosix
import NIOSSL

/// Raised by the proxy's own timers: no response head, or too long a gap between body bytes.
struct UpstreamTimeoutError: Error {}

/// Raised when the client went away: the upstream request is cancelled and nobody is answered.
struct ClientDisconnectedError: Error {}

/// Raised when the client stopped reading a relayed answer for the timeout: the answer is cut, and the upstream is
/// not blamed for the silence it was held to.
struct ClientStalledError: Error {}

/// The upstream answered 101 Switching Protocols to a request that asked for no upgrade.
struct UnsolicitedUpgradeError: Error, CustomStringConvertible {
    var status: UInt
    var description: String { "the upstream answered \(self.status) to a request that asked for no upgrade" }
}

/// Maps what AsyncHTTPClient reports to the error the client sees (502 or 504) and a bounded log code.
enum UpstreamFailure {
    static func openAIError(for error: Error, model: String, timeout: Double) -> OpenAIError {
        if error is UpstreamTimeoutError {
            return .upstreamTimeout(model: model, seconds: timeout)
        }
        if Self.isUnreachable(error) {
            return .upstreamUnreachable(model: model)
        }
        return .upstreamFailed(model: model)
    }

    static func isUnreachable(_ error: Error) -> Bool {
        switch error {
        case is NIOConnectionError, is ChannelError, is NIOSSLError, is IOError:
            return true
        case is BoringSSLError:
            return true
        case let error as HTTPClientError:
            return error == .connectTimeout
        default:
            return false
        }
    }
}
