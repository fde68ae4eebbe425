import AsyncHTTPClient
import NIOCore

/// Carries a request body that is still arriving from the client into the upstream request, with backpressure:
/// while writes to the upstream are outstanding, the client connection stops reading.
///
/// Loop-bound: every method runs on the connection's event loop (the body closure hops there when AsyncHTTPClient
/// calls it from the upstream channel's loop, and write results are hopped back).
final class UploadStream {
    private let eventLoop: EventLoop
    private var writer: HTTPClient.Body.StreamWriter?
    private var pending: [ByteBuffer] = []
    private var outstandingWrites = 0
    private var clientFinished = false
    private var failed = false
    private let completion: EventLoopPromise<Void>
    /// Told when reading from the client should pause (`true`) or resume (`false`).
    private let setReadPaused: (Bool) -> Void
    private static let maxOutstandingWrites = 4

    init(eventLoop: EventLoop, setReadPaused: @escaping (Bool) -> Void) {
        self.eventLoop = eventLoop
        self.completion = eventLoop.makePromise()
        self.setReadPaused = setReadPaused
    }

    /// The request body for AsyncHTTPClient.
    func makeBody(contentLength: Int?) -> HTTPClient.Body {
        let loopBound = NIOLoopBound(self, eventLoop: self.eventLoop)
        let eventLoop = self.eventLoop
        return .stream(contentLength: contentLength.map(Int64.init)) { writer in
            if eventLoop.inEventLoop {
                return loopBound.value.attach(writer)
            }
            return eventLoop.flatSubmit { loopBound.value.attach(writer) }
        }
    }

    private func attach(_ writer: HTTPClient.Body.StreamWriter) -> EventLoopFuture<Void> {
        self.writer = writer
        let queued = self.pending
        self.pending = []
        for buffer in queued {
            self.write(buffer, with: writer)
        }
        self.completeIfDone()
        return self.completion.futureResult
    }

    /// Body bytes from the client.
    func append(_ buffer: ByteBuffer) {
        guard !self.failed else { return }
        if let writer = self.writer {
            self.write(buffer, with: writer)
        } else {
            self.pending.append(buffer)
            if self.pending.count > Self.maxOutstandingWrites {
                self.setReadPaused(true)
            }
        }
    }

    /// The client sent the whole body.
    func finish() {
        self.clientFinished = true
        self.completeIfDone()
    }

    /// The exchange ended early (client gone, upstream failed): stop accepting bytes.
    func fail(_ error: Error) {
        guard !self.failed else { return }
        self.failed = true
        self.pending = []
        self.completion.fail(error)
    }

    private func write(_ buffer: ByteBuffer, with writer: HTTPClient.Body.StreamWriter) {
        self.outstandingWrites += 1
        if self.outstandingWrites >= Self.maxOutstandingWrites {
            self.setReadPaused(true)
        }
        writer.write(.byteBuffer(buffer)).hop(to: self.eventLoop).assumeIsolated().whenComplete { result in
            self.outstandingWrites -= 1
            if case .failure(let error) = result {
                self.fail(error)
                return
            }
            if self.outstandingWrites < Self.maxOutstandingWrites {
                self.setReadPaused(false)
            }
            self.completeIfDone()
        }
    }

    private func completeIfDone() {
        guard !self.failed, self.clientFinished, self.writer != nil, self.outstandingWrites == 0,
            self.pending.isEmpty
        else { return }
        self.failed = true  // completed: nothing more is accepted
        self.completion.succeed()
    }
}
