import AsyncHTTPClient
import NIOCore
import NIOHTTP1

/// Where an upstream response goes, part by part: the one place that decides status, headers, image rewriting,
/// timeouts, error mapping and the access record, whichever client fetched the response.
///
/// Both AsyncHTTPClient's delegate callbacks and the pooled NIO client (`UpstreamRelayHandler`) call it, always on
/// the client connection's event loop.
protocol UpstreamResponseSink: AnyObject {
    /// The response head; the returned future completes when the client side can take more.
    /// - Parameter flush: whether to flush now; the pooled client flushes once per upstream read instead.
    func upstreamHead(_ head: HTTPResponseHead, flush: Bool) -> EventLoopFuture<Void>
    /// A body part; the returned future completes when it was written to the client (backpressure).
    func upstreamBodyPart(_ buffer: ByteBuffer, flush: Bool) -> EventLoopFuture<Void>
    /// Flushes what `flush: false` left in the client channel.
    func upstreamFlush()
    /// The response is complete.
    func upstreamEnd()
    /// The upstream call failed (connect, timeout, cut, or cancelled with `fail(reason:)`).
    func upstreamFailed(_ error: Error)
}

/// An upstream call in flight, as the exchange sees it: something it can cancel with a reason, which is then
/// reported back through `UpstreamResponseSink.upstreamFailed`.
protocol UpstreamCall: AnyObject {
    func fail(reason: Error)
}

extension HTTPClient.Task: UpstreamCall {}

/// A sink that AsyncHTTPClient drives as a response delegate: its callbacks map onto the sink's, so the exchange
/// and a pooled attempt (`UpstreamAttempt`) share one mapping. Streaming callbacks flush at once; AsyncHTTPClient
/// has no "end of read" signal to batch on.
protocol HTTPClientSink: UpstreamResponseSink, HTTPClientResponseDelegate where Response == Void {}

extension HTTPClientSink {
    func didReceiveHead(task: HTTPClient.Task<Void>, _ head: HTTPResponseHead) -> EventLoopFuture<Void> {
        self.upstreamHead(head, flush: true)
    }

    func didReceiveBodyPart(task: HTTPClient.Task<Void>, _ buffer: ByteBuffer) -> EventLoopFuture<Void> {
        self.upstreamBodyPart(buffer, flush: true)
    }

    func didFinishRequest(task: HTTPClient.Task<Void>) throws {
        self.upstreamEnd()
    }

    func didReceiveError(task: HTTPClient.Task<Void>, _ error: Error) {
        self.upstreamFailed(error)
    }
}
