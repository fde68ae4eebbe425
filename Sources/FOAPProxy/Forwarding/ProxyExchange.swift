import AsyncHTTPClient
import FOAPConfig
import FOAPLimits
import Logging
import FOAPHTTP1
import NIOCore
import NIOHTTP1

/// The connection-side half of an exchange: what the exchange needs from the handler that owns the socket.
protocol ExchangeOwner: AnyObject {
    /// Stop (`true`) or resume (`false`) reading from the client: upload backpressure.
    func exchange(setReadPaused paused: Bool)
    /// The response was written whole (or abandoned); `close` when the connection must not be reused.
    func exchangeFinished(close: Bool, after lastWrite: EventLoopFuture<Void>?)
    /// Call `checkDeadlines` no later than `deadline` (see `ProxyConnectionHandler`'s timeout timer).
    func exchangeNeedsTimeoutCheck(by deadline: NIODeadline)
    /// The answer was a `101` (already written, not flushed): HTTP ends on this connection, and `handler` carries
    /// its bytes from now on. The owner leaves the pipeline; the exchange outlives it.
    func exchangeBecomesTunnel(_ handler: any ChannelHandler) throws
}

/// One request and its response: route, read the body, pick the upstream, forward, relay the answer.
///
/// The thin, loop-bound executor of an `ExchangeStateMachine`: events from the client connection and from the
/// upstream call go to the machine, and its actions are carried out here (writes, upstream calls, the record).
/// Created by `ProxyConnectionHandler` and driven only on its channel's event loop, including the upstream
/// callbacks (the upstream request is pinned to the same loop), so nothing here locks and no request hops threads.
///
/// Its extensions: the request side (`+Request`), the upstream call and its answer (`+Upstream`), the choice of
/// upstream and failover (`+Attempts`), client keys (`Auth/`), metrics (`Metrics/`).
final class ProxyExchange {
    let engine: ProxyEngine
    let context: ChannelHandlerContext
    /// Where the answer's parts are encoded and written (the connection's, shared by its exchanges).
    let output: ResponseOutput
    weak var owner: (any ExchangeOwner)?
    /// The connection's drain: every final response head and every `.end` goes out through it.
    let drain: ConnectionDrain
    /// The client's request head, its fields as the bytes they arrived in (`head.headers` builds `String`s: not for
    /// the path every request takes).
    let head: HTTPReceivedRequestHead
    /// What the exchange reads from the head's fields, found once.
    let requestHeaders: RequestHeaderFacts
    let route: Route
    let traits: RouteTraits
    let keepAlive: Bool
    /// A HEAD request: every answer goes out without its body (RFC 9110 §9.3.2).
    let isHead: Bool
    var record: AccessRecord
    /// The models this client may use; set by `authenticateClient()` (Auth/ProxyExchange+ClientKeys.swift).
    var grant: ClientGrant?
    /// The state machine, in a cell (see `LoopBoundCell`): its transitions release what they drop (a held head, a
    /// buffer), which kept a runtime exclusivity check on each of its ~15 accesses per request as a stored property,
    /// and moving its ~280 bytes out and back for each transition cost as much. It is a value with no reference back
    /// to the exchange.
    var machine: ExchangeStateMachine {
        @inline(__always) _read { yield self.machineCell.value }
        @inline(__always) _modify { yield &self.machineCell.value }
    }
    private let machineCell: LoopBoundCell<ExchangeStateMachine>

    /// What happens to request body bytes as they arrive.
    var bodyMode: BodyMode = .none
    /// The request as it goes upstream, with its attempts (UpstreamRequest.swift, ProxyExchange+Attempts.swift).
    var upstreamRequest: UpstreamRequest?
    /// The upstream call in flight (an AsyncHTTPClient task or a pooled plain-HTTP call) and its attempt.
    var call: (any UpstreamCall)?
    var callAttempt = ExchangeStateMachine.AttemptID.none
    /// The deadline the owner was last asked to check by (`askForTimeoutCheck`), until its timer fires.
    var timeoutCheckAskedBy: NIODeadline?
    /// A multipart upload streaming to the upstream as the client sends it.
    var upload: UploadStream?
    /// Reads `usage` out of a 2xx answer of a route that reports it (TokenUsageScanner.swift).
    var usageScanner: TokenUsageScanner?
    /// Rewrites a relayed event stream event by event: drops the usage chunk `inject_stream_usage` asked for (the
    /// client did not), tags the ids a Responses stream hands out (Rewriting/StreamEventFilter.swift).
    var eventFilter: StreamEventFilter?
    /// The admission of a key with limits: settled and released when the exchange finishes (Limits/).
    var admission: Admission?
    /// The same, when Redis/Valkey admitted the request for the fleet (Limits/Fleet/).
    var fleetLease: FleetLease?
    /// The client has a `101` from foap itself (the Responses WebSocket mode): errors go as an `error` event.
    var speaksWebSocket = false
    /// The record was written and the owner told: nothing more happens.
    private(set) var finished = false

    enum BodyMode {
        case none
        case buffering(ByteBuffer)
        case holdingMultipart(ByteBuffer, MultipartModelScanner)
        /// A multipart upload going upstream as it arrives; a second `model` part stops it.
        case streaming(MultipartDuplicateModelDetector)
        /// An upload whose model is known, waiting for the fleet's admission: what arrives meanwhile is held.
        case admitting(ByteBuffer, MultipartDuplicateModelDetector)
        /// Read and dropped: a small rest of a refused request's body, or the body of a route that takes none.
        case discarding
    }

    /// - Parameter client: the peer as the access log writes it, described once per connection.
    init(
        engine: ProxyEngine,
        context: ChannelHandlerContext,
        output: ResponseOutput,
        owner: any ExchangeOwner,
        drain: ConnectionDrain,
        head: HTTPReceivedRequestHead,
        client: String,
        clientKeepsAlive: Bool
    ) {
        self.engine = engine
        self.context = context
        self.output = output
        self.owner = owner
        self.drain = drain
        self.head = head
        (self.route, self.traits) = Route.resolveWithTraits(head)
        // After a request that asks for an upgrade the parser reads no further request: whatever the answer,
        // the connection ends with it.
        let asksForUpgrade = if case .webSocket = self.route { true } else { false }
        // `clientKeepsAlive`: the parser's reading of the head's `Connection` field and version (NIO's
        // `isKeepAlive` would lower-case and split every field of headers it did not parse itself).
        self.keepAlive = clientKeepsAlive && head.version.major == 1 && head.version.minor >= 1 && !asksForUpgrade
        self.isHead = head.method.isHEAD
        let facts = RequestHeaderFacts(head.fields)
        self.requestHeaders = facts
        self.machineCell = LoopBoundCell(
            ExchangeStateMachine(
                declaredLength: facts.declaredBodyLength,
                maxDiscardedBodySize: engine.configuration.maxDiscardedBodySize,
                expectsContinue: facts.expectsContinue
            ))
        self.record = AccessRecord(method: head.method, requestID: facts.requestID, route: self.route, client: client)
        engine.metrics.requestStarted()
    }

    deinit {
        self.machineCell.free()
    }

    /// Adds a failed attempt to the record: the list is moved out to grow and moved back, so no call runs
    /// inside an access to `record`, and the whole-module optimizer drops every runtime exclusivity check on it
    /// (one access that may reach the property again keeps a check on all of them: ~70 instructions each).
    func noteAttemptError(_ entry: String) {
        var errors: [String] = []
        swap(&errors, &self.record.attemptErrors)
        errors.append(entry)
        swap(&errors, &self.record.attemptErrors)
    }

    /// Looks for the answer's `usage` in `buffer`, with the scanner moved out while it reads (see
    /// `noteAttemptError`).
    func scanUsage(in buffer: ByteBuffer) {
        guard var scanner = self.usageScanner.take() else { return }
        scanner.scan(buffer)
        self.usageScanner = scanner
    }

    /// The client has sent its whole request.
    var requestEnded: Bool { self.machine.requestComplete }
    /// Bytes of the answer may have reached the client.
    var responseHeadWritten: Bool { self.machine.answerStarted }

    // MARK: Carrying out the machine's actions

    /// Carries out an action that writes no relayed answer bytes (those are written where the answer arrives).
    func perform(_ action: ExchangeStateMachine.Action) {
        switch action {
        case .none, .attemptFailedBeforeAnswer:
            break
        case .answer(let error, let close):
            self.bodyMode = close && !self.requestEnded ? .discarding : self.bodyMode
            self.writeError(error, close: close)
        case .discardRestThenAnswer:
            self.bodyMode = .discarding
        case .abandonAttemptAndAnswer(_, let error, let close):
            let call = self.detachCall()
            self.attemptEndedWithoutAnswer()
            self.bodyMode = .discarding
            self.writeError(error, close: close)
            // After the answer: a call failed synchronously reports back into a finished exchange, which ignores it.
            self.upload?.fail(ClientDisconnectedError())
            call?.fail(reason: AttemptAbandonedError())
        case .cutConnection(let abandoning):
            let call = abandoning == nil ? nil : self.detachCall()
            if abandoning != nil {
                self.attemptEndedWithoutAnswer()
            }
            self.bodyMode = .discarding
            // What was relayed so far goes out before the close (the client sees a cut answer, not an empty one).
            self.output.flush()
            self.finish(close: true)
            self.upload?.fail(ClientDisconnectedError())
            call?.fail(reason: AttemptAbandonedError())
        case .failAttempt(let attempt, let reason):
            guard attempt == self.callAttempt, let call = self.call else { return }
            call.fail(reason: reason.error)
        case .abandonAttemptAndFinish:
            self.record.error = self.record.error ?? "client_closed"
            let call = self.detachCall()
            self.attemptEndedWithoutAnswer()
            self.upload?.fail(ClientDisconnectedError())
            self.finish(close: true)
            call?.fail(reason: ClientDisconnectedError())
        case .checkAgain(let deadline):
            self.owner?.exchangeNeedsTimeoutCheck(by: deadline)
        case .writeHead, .writeHeadAndBody, .writeBody, .writeEnd, .writeBuffered:
            preconditionFailure("answer writes are carried out by the upstream sink")
        }
    }

    /// Refuses the request (see `ExchangeStateMachine.refused`).
    func refuse(_ error: OpenAIError) {
        self.perform(self.machine.refused(error))
    }

    /// Stops a request whose body is still arriving (see `ExchangeStateMachine.abortRequest`).
    func abortRequest(_ error: OpenAIError) {
        if self.responseHeadWritten {
            self.record.error = self.record.error ?? error.code.rawValue
        }
        self.perform(self.machine.abortRequest(error))
    }

    /// Takes the call in flight out of the exchange (it is about to be cancelled, or it ended).
    @discardableResult
    func detachCall() -> (any UpstreamCall)? {
        let call = self.call
        self.call = nil
        self.callAttempt = .none
        return call
    }

    // MARK: Answering locally

    func respond(status: HTTPResponseStatus, json body: ByteBuffer) {
        guard !self.machine.isFinished else { return }
        self.machine.answeredLocally()
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/json")
        headers.add(name: "Content-Length", value: String(body.readableBytes))
        self.record.status = status.code
        self.writeWhole(head: self.makeResponseHead(status: status, headers: headers), body: body, close: false)
    }

    /// An error answered at once, outside the machine's refusal rules (the request was already read).
    func respond(error: OpenAIError, close: Bool = false) {
        guard !self.machine.isFinished else { return }
        self.machine.answeredLocally()
        self.writeError(error, close: close)
    }

    private func writeError(_ error: OpenAIError, close: Bool) {
        if self.speaksWebSocket {
            self.sendSocketError(error)
            return
        }
        let allocator = self.context.channel.allocator
        let body =
            self.traits.isAnthropic ? error.anthropicBody(allocator: allocator) : error.body(allocator: allocator)
        let head = self.makeResponseHead(status: error.status, headers: error.headers(forBody: body), close: close)
        self.record.status = error.status.code
        self.record.error = self.record.error ?? error.code.rawValue
        self.writeWhole(head: head, body: body, close: close)
    }

    func writeWhole(head: ClientResponseHead, body: ByteBuffer, close: Bool) {
        guard !self.finished else { return }
        self.writeHead(head)
        if !self.isHead {
            self.record.bytesOut += body.readableBytes
            self.output.write(.body(.byteBuffer(body)), promise: nil)
        }
        let closing = close || !self.keepAlive
        self.finish(close: closing, after: self.writeEnd(closing: closing))
    }

    /// Writes and flushes the response's `.end`; returns its future only when the connection may close after this
    /// response, which then waits for it (`exchangeFinished`). On a keep-alive response nothing waits, and a
    /// promise on a sized answer's `.end` made NIO write an empty buffer to the socket just to complete it (with
    /// the future, ~3,800 instructions per request in bench/profile).
    func writeEnd(closing: Bool) -> EventLoopFuture<Void>? {
        let promise = closing || !self.requestEnded ? self.context.eventLoop.makePromise(of: Void.self) : nil
        self.drain.writeEnd(output: self.output, context: self.context, promise: promise)
        return promise?.futureResult
    }

    /// Writes a final response head, after the connection's drain had its say (`Connection: close`).
    func writeHead(_ head: ClientResponseHead) {
        var own = head.head  // only foap's own part changes: the relayed fields are not copied
        self.drain.prepare(&own)
        self.output.writeHead(own, relaying: head.relayed, promise: nil)
    }

    /// The client's head: the client's HTTP version, `relayed` fields (an upstream's) and then `headers`.
    func makeResponseHead(
        status: HTTPResponseStatus, headers: HTTPHeaders, relaying relayed: HTTPFieldBlock? = nil, close: Bool = false
    ) -> ClientResponseHead {
        var head = ClientResponseHead(
            HTTPResponseHead(version: self.head.version, status: status, headers: headers), relaying: relayed)
        if close || !self.keepAlive {
            head.head.headers.replaceOrAdd(name: "Connection", value: "close")
        }
        if self.hasAdmission {
            self.applyRateLimitHeaders(to: &head)
        }
        return head
    }

    func finish(close: Bool, after lastWrite: EventLoopFuture<Void>? = nil) {
        guard !self.finished else { return }
        self.finished = true
        self.record.finishedAt = .now()
        if let request = self.upstreamRequest {
            self.record.attempts = request.attempts
            self.record.attemptErrors = request.failures
        }
        if let usage = self.usageScanner?.usage {
            self.record.promptTokens = usage.prompt
            self.record.completionTokens = usage.completion
        }
        self.settleAdmission()
        // Moved out for both readers, not copied: passing the stored property copied the whole record (a retain
        // and a release per field) for each call, and a copy in a local still cost ~500 instructions per request in
        // bench/profile. Complete now; nothing reads it once the exchange is finished.
        var record = AccessRecord.vacant
        swap(&record, &self.record)
        self.engine.accessLog.write(record)
        let modelIsConfigured =
            self.upstreamRequest != nil || record.model.map { self.engine.snapshot.model($0) != nil } ?? false
        self.engine.metrics.requestFinished(record, modelIsConfigured: modelIsConfigured)
        // A request whose body is still arriving cannot share the connection with the next one, unless the rest
        // is being read and dropped to keep it.
        self.owner?.exchangeFinished(close: close || !self.requestEnded && !self.isDiscardingQuietly, after: lastWrite)
    }

    /// An early answer is fine on a keep-alive connection only if the rest of the body is read and dropped.
    private var isDiscardingQuietly: Bool {
        if case .discarding = self.bodyMode { return true }
        return false
    }
}

extension ExchangeStateMachine.AttemptFailure {
    /// What the call is failed with; it comes back through `upstreamFailed`.
    var error: Error {
        switch self {
        case .timeout: return UpstreamTimeoutError()
        case .clientStalled: return ClientStalledError()
        case .unsolicitedUpgrade(let status): return UnsolicitedUpgradeError(status: status)
        }
    }
}

/// An attempt given up (for another upstream, or because the request stopped): its late callbacks are ignored.
struct AttemptAbandonedError: Error {}

/// A pooled upstream whose key is configured but not found: skipped for another upstream when one is left.
struct UpstreamKeyMissingError: Error {}
