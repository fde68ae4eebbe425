import AsyncHTTPClient
import FOAPHTTP1
import NIOCore
import NIOHTTP1

/// Where an upstream response goes, part by part, tagged with the attempt it belongs to: the exchange ignores the
/// parts of an attempt it gave up (see `ExchangeStateMachine.AttemptID`).
///
/// The pooled NIO client (`UpstreamRelayHandler`) calls it; AsyncHTTPClient's delegate callbacks are mapped onto it
/// by the exchange. Always on the client connection's event loop.
protocol UpstreamResponseSink: AnyObject {
    /// The response head; the returned future completes when the client side can take more (nil: it can now).
    func upstreamHead(_ head: HTTPReceivedResponseHead, attempt: ExchangeStateMachine.AttemptID) -> EventLoopFuture<Void>?
    /// A body part; the returned future completes when it was written to the client (backpressure; nil: nothing to
    /// wait for, which spares a future and a callback per part).
    func upstreamBodyPart(_ buffer: ByteBuffer, attempt: ExchangeStateMachine.AttemptID) -> EventLoopFuture<Void>?
    /// The upstream read that brought the last parts is over: flush them (and a head that was held only to here).
    func upstreamReadComplete(attempt: ExchangeStateMachine.AttemptID)
    /// The response is complete.
    func upstreamEnd(attempt: ExchangeStateMachine.AttemptID)
    /// The upstream call failed (connect, timeout, cut, or cancelled with `fail(reason:)`).
    func upstreamFailed(_ error: Error, attempt: ExchangeStateMachine.AttemptID)
}

/// An upstream call in flight, as the exchange sees it: something it can cancel with a reason, which is then
/// reported back through `UpstreamResponseSink.upstreamFailed`.
protocol UpstreamCall: AnyObject {
    func fail(reason: Error)
}

extension HTTPClient.Task: UpstreamCall {}
