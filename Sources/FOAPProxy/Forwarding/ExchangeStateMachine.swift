import NIOCore
import NIOHTTP1

/// The decisions of one exchange — a request and its answer — without its I/O: events in the past tense go in,
/// actions come out, and `ProxyExchange` carries them out on its event loop (as async-http-client's `Transaction`
/// drives its state machine). Tested as tables of actions with an injected clock (`ExchangeStateMachineTests`).
///
/// What it decides: when an error may still be answered and whether the connection must close with it, which
/// upstream attempt a callback belongs to (a late callback of an abandoned attempt is ignored by its id), when the
/// upstream's head may be committed to the client, when an attempt has been silent too long, and when the exchange
/// is over. What it does not hold: the bytes being buffered (the body modes, scanners and rewriters stay with the
/// executor) and the choice of upstream (the balancer).
struct ExchangeStateMachine {
    /// Identifies one upstream attempt of the exchange; callbacks carry it so that a stale one finds nothing.
    struct AttemptID: Hashable, Sendable, CustomStringConvertible {
        fileprivate let value: Int
        /// Matches no attempt: what an unrecognised callback is given.
        static let none = AttemptID(value: -1)
        var description: String { "attempt \(self.value)" }
    }

    /// Timeouts of the attempt in flight, from its endpoint.
    struct AttemptTimeouts: Equatable {
        /// The longest wait for the head, and later the longest gap between body bytes.
        var silence: TimeAmount
        /// The longest wait from sending the request to the first body byte (`first_byte_timeout`).
        var firstByte: TimeAmount?
    }

    enum State {
        /// No upstream call in flight: reading the body, routing, answering locally, or between two attempts.
        case readingRequest
        /// Attempt sent, no head yet.
        case awaitingHead(AttemptID)
        /// The head arrived and is held: nothing of the answer reached the client, so it may still fail over or
        /// become an error. `awaitsFirstByte`: held until a body byte (`first_byte_timeout`), not only to the end of
        /// the read that brought it.
        case holdingHead(AttemptID, ClientResponseHead, awaitsFirstByte: Bool)
        /// A JSON answer held whole to rewrite it (image URLs, the ids it hands out).
        case bufferingWhole(AttemptID, ClientResponseHead, ByteBuffer)
        /// Bytes of the answer reached the client: a failure can only cut the connection now.
        case relaying(AttemptID)
        case finished
    }

    enum Action: Equatable {
        case none
        /// Answer `error` (nothing of another answer was written); `close` when the connection must not be reused.
        case answer(OpenAIError, close: Bool)
        /// A small rest of the body is read and dropped first; the answer comes with `requestEnded`.
        case discardRestThenAnswer
        /// Stop the attempt's call (its failure callback then arrives with `reason`), then answer `error`.
        case abandonAttemptAndAnswer(AttemptID, OpenAIError, close: Bool)
        /// Bytes were relayed: the only signal left is to cut the connection (after flushing what was relayed).
        case cutConnection(abandoning: AttemptID?)
        /// Fail the attempt's call with `reason` (a timeout, an unsolicited upgrade); its failure callback follows.
        case failAttempt(AttemptID, reason: AttemptFailure)
        /// The attempt failed before any byte reached the client: retry elsewhere or answer its error.
        case attemptFailedBeforeAnswer
        case writeHead(ClientResponseHead)
        case writeHeadAndBody(ClientResponseHead, ByteBuffer)
        case writeBody(ByteBuffer)
        /// The answer is complete; `head` when it was still held (an answer without body).
        case writeEnd(head: ClientResponseHead?)
        /// The buffered answer is complete: rewrite and write it whole.
        case writeBuffered(ClientResponseHead, ByteBuffer)
        /// The client is gone: cancel the attempt in flight, if any, and finish.
        case abandonAttemptAndFinish(AttemptID?)
        /// Look at the deadlines again at this time.
        case checkAgain(at: NIODeadline)
    }

    /// Why the machine fails an attempt.
    enum AttemptFailure: Equatable {
        case timeout
        /// The client did not read the answer for the timeout: the upstream was only held back.
        case clientStalled
        /// A 101 that nobody asked for (the connection would speak another protocol).
        case unsolicitedUpgrade(status: UInt)
    }

    private(set) var state = State.readingRequest
    /// The client sent its whole body.
    private(set) var requestComplete = false
    /// The refusal answered once the small rest of the body has been dropped.
    private var pendingError: OpenAIError?
    private var bodyBytes = 0
    private let declaredLength: Int?
    private let maxDiscardedBodySize: Int
    /// The client waits for `100 Continue` before it sends its body, and none was sent.
    private var awaitingContinue: Bool
    private var nextAttempt = 0
    /// When the attempt in flight counts as silent; moved by every head and body part.
    private var deadline: NIODeadline?
    private var attemptStartedAt: NIODeadline?
    private var firstBodyByteSeen = false
    private var timeouts = AttemptTimeouts(silence: .seconds(60), firstByte: nil)

    /// - Parameters:
    ///   - declaredLength: the body length the head announces (nil: chunked).
    ///   - maxDiscardedBodySize: the largest rest of a refused request's body worth reading to keep the connection.
    ///   - expectsContinue: the client sent `Expect: 100-continue`.
    init(declaredLength: Int?, maxDiscardedBodySize: Int, expectsContinue: Bool) {
        self.declaredLength = declaredLength
        self.maxDiscardedBodySize = maxDiscardedBodySize
        self.awaitingContinue = expectsContinue
    }

    var isFinished: Bool {
        if case .finished = self.state { return true }
        return false
    }

    /// Some of the answer may have reached the client.
    var answerStarted: Bool {
        switch self.state {
        case .relaying, .finished: return true
        default: return false
        }
    }

    /// The attempt in flight, if any.
    var currentAttempt: AttemptID? {
        switch self.state {
        case .awaitingHead(let id), .holdingHead(let id, _, _), .bufferingWhole(let id, _, _), .relaying(let id):
            return id
        case .readingRequest, .finished:
            return nil
        }
    }

    /// For the timeout message of a failed attempt: the timeout that bounded it when it failed.
    var currentTimeout: TimeAmount {
        if !self.firstBodyByteSeen, let firstByte = self.timeouts.firstByte {
            return min(firstByte, self.timeouts.silence)
        }
        return self.timeouts.silence
    }

    // MARK: The request

    mutating func continueSent() {
        self.awaitingContinue = false
    }

    /// Body bytes arrived; `limit` is the most this request may send.
    mutating func bodyPartReceived(count: Int, limit: Int) -> Action {
        self.bodyBytes += count
        guard self.bodyBytes > limit else { return .none }
        return self.abortRequest(self.pendingError ?? .bodyTooLarge(limit: limit))
    }

    mutating func requestEnded() -> Action {
        self.requestComplete = true
        guard let error = self.pendingError, !self.isFinished else { return .none }
        self.pendingError = nil
        self.state = .finished
        return .answer(error, close: false)
    }

    /// The request is refused before any upstream answer (a wrong key, an unknown model, an upstream that failed
    /// before answering). With the body complete, the answer goes now. Otherwise the rest of the body decides: a
    /// small rest (by its declared length) is read and dropped first so the connection stays usable; a larger or
    /// unknown rest is not read at all — the answer goes now and the connection closes. A refusal must never make
    /// the worker read, or wait for, a body of any size.
    mutating func refused(_ error: OpenAIError) -> Action {
        guard !self.isFinished else { return .none }
        if self.requestComplete {
            self.state = .finished
            return .answer(error, close: false)
        }
        if self.awaitingContinue {
            // It waits for a 100 before sending its body: answer now and close, since it may or may not send the
            // body anyway (RFC 9110 §10.1.1).
            self.state = .finished
            return .answer(error, close: true)
        }
        if let declared = self.declaredLength, declared - self.bodyBytes <= self.maxDiscardedBodySize {
            self.pendingError = error
            return .discardRestThenAnswer
        }
        self.state = .finished
        return .answer(error, close: true)
    }

    /// The request must stop while its body is still arriving (too large, a second multipart `model`, a body that
    /// stopped arriving): the attempt in flight is abandoned, so the upstream never has a whole body; the error is
    /// answered now and the connection closes — or cut, if an answer already started.
    mutating func abortRequest(_ error: OpenAIError) -> Action {
        let attempt = self.currentAttempt
        switch self.state {
        case .finished:
            return .none
        case .relaying:
            self.state = .finished
            return .cutConnection(abandoning: attempt)
        case .readingRequest:
            self.state = .finished
            return .answer(error, close: true)
        case .awaitingHead(let id), .holdingHead(let id, _, _), .bufferingWhole(let id, _, _):
            self.state = .finished
            return .abandonAttemptAndAnswer(id, error, close: true)
        }
    }

    /// A local answer (models, health, metrics, an error) was written whole.
    mutating func answeredLocally() {
        self.state = .finished
    }

    mutating func clientClosed() -> Action {
        guard !self.isFinished else { return .none }
        let attempt = self.currentAttempt
        self.state = .finished
        return .abandonAttemptAndFinish(attempt)
    }

    // MARK: Upstream attempts

    /// A new attempt is about to be sent (the first, or another after a failure before any answer byte).
    mutating func attemptStarted(now: NIODeadline, timeouts: AttemptTimeouts) -> AttemptID {
        precondition(!self.answerStarted, "an attempt after bytes of an answer reached the client")
        let id = AttemptID(value: self.nextAttempt)
        self.nextAttempt += 1
        self.state = .awaitingHead(id)
        self.timeouts = timeouts
        self.attemptStartedAt = now
        self.firstBodyByteSeen = false
        self.moveDeadline(now: now)
        return id
    }

    /// Upload bytes moved to the upstream while it has not answered: a long upload is not a silent upstream.
    mutating func uploadProgressed(now: NIODeadline) {
        if case .awaitingHead = self.state {
            self.moveDeadline(now: now)
        }
    }

    /// Whether `attempt` is the one in flight and nothing reached the client: its answer may still be given up for
    /// another upstream's.
    func mayGiveUp(_ attempt: AttemptID) -> Bool {
        if case .awaitingHead(attempt) = self.state { return true }
        return false
    }

    /// The attempt was given up for another (a retryable status): its callbacks are stale from now on.
    mutating func attemptGivenUp(_ attempt: AttemptID) {
        guard self.mayGiveUp(attempt) else { return }
        self.state = .readingRequest
        self.deadline = nil
    }

    /// The state as it was, `next` in its place: moved, not copied (a held head's references are not retained
    /// and released again on the way out).
    private mutating func takeState(leaving next: State) -> State {
        var taken = next
        swap(&self.state, &taken)
        return taken
    }

    /// The upstream's head. `bufferWhole`: a JSON answer to hold whole (to rewrite); `holdForFirstByte`: the endpoint has
    /// a `first_byte_timeout`.
    mutating func upstreamHeadReceived(
        _ head: consuming ClientResponseHead, attempt: AttemptID, bufferWhole: Bool, holdForFirstByte: Bool,
        now: NIODeadline
    ) -> Action {
        guard case .awaitingHead(attempt) = self.state else { return .none }
        if head.status.code < 200 {
            // Interim answers never get here (the decoders drop them): this is a 101 nobody asked for.
            return .failAttempt(attempt, reason: .unsolicitedUpgrade(status: head.status.code))
        }
        self.moveDeadline(now: now)
        if bufferWhole {
            self.state = .bufferingWhole(attempt, head, ByteBuffer())
        } else {
            self.state = .holdingHead(attempt, head, awaitsFirstByte: holdForFirstByte && !self.firstBodyByteSeen)
        }
        return .none
    }

    /// The upstream read that brought parts of the answer is over (the pooled client), or a part arrived through
    /// AsyncHTTPClient (which has no such signal): a held head that need not wait for a body byte goes out now.
    mutating func upstreamReadCompleted(attempt: AttemptID) -> Action {
        guard case .holdingHead(attempt, _, awaitsFirstByte: false) = self.state,
            case .holdingHead(_, let head, _) = self.takeState(leaving: .relaying(attempt))
        else { return .none }
        return .writeHead(head)
    }

    /// A body part of the answer; `imageLimit` is the most of an answer held for rewriting.
    mutating func upstreamBodyReceived(_ buffer: ByteBuffer, attempt: AttemptID, imageLimit: Int, now: NIODeadline)
        -> Action
    {
        switch self.state {
        case .holdingHead(attempt, _, _):
            self.bodyByteArrived(now: now)
            guard case .holdingHead(_, let head, _) = self.takeState(leaving: .relaying(attempt)) else { return .none }
            return .writeHeadAndBody(head, buffer)
        case .bufferingWhole(attempt, let head, var held):
            self.bodyByteArrived(now: now)
            self.state = .readingRequest  // avoids a copy of `held` while it grows
            held.writeImmutableBuffer(buffer)
            guard held.readableBytes > imageLimit else {
                self.state = .bufferingWhole(attempt, head, held)
                return .none
            }
            // Too large to be a URL answer worth rewriting: it passes as it is.
            self.state = .relaying(attempt)
            return .writeHeadAndBody(head, held)
        case .relaying(attempt):
            self.bodyByteArrived(now: now)
            return .writeBody(buffer)
        default:
            return .none
        }
    }

    mutating func upstreamEnded(attempt: AttemptID) -> Action {
        switch self.state {
        case .holdingHead(attempt, _, _):
            guard case .holdingHead(_, let head, _) = self.takeState(leaving: .finished) else { return .none }
            return .writeEnd(head: head)
        case .bufferingWhole(attempt, let head, let held):
            self.state = .finished
            return .writeBuffered(head, held)
        case .relaying(attempt):
            self.state = .finished
            return .writeEnd(head: nil)
        default:
            return .none
        }
    }

    mutating func upstreamFailed(attempt: AttemptID) -> Action {
        switch self.state {
        case .relaying(attempt):
            self.state = .finished
            return .cutConnection(abandoning: nil)
        case .awaitingHead(attempt), .holdingHead(attempt, _, _), .bufferingWhole(attempt, _, _):
            self.state = .readingRequest
            self.deadline = nil
            return .attemptFailedBeforeAnswer
        default:
            return .none
        }
    }

    /// The connection's timer fired. `clientHasUnsentBytes`: answer bytes are waiting for the client to read them.
    mutating func deadlinePassed(now: NIODeadline, clientHasUnsentBytes: Bool) -> Action {
        guard let attempt = self.currentAttempt, let deadline = self.deadline else { return .none }
        if deadline > now {
            return .checkAgain(at: deadline)
        }
        self.deadline = nil
        if case .relaying = self.state, clientHasUnsentBytes {
            return .failAttempt(attempt, reason: .clientStalled)
        }
        return .failAttempt(attempt, reason: .timeout)
    }

    /// When the deadlines must be looked at next, if an attempt is in flight.
    var nextDeadline: NIODeadline? { self.deadline }

    // MARK: Private

    private mutating func bodyByteArrived(now: NIODeadline) {
        self.firstBodyByteSeen = true
        self.moveDeadline(now: now)
    }

    /// The silence allowed from `now`, and until the first body byte, `first_byte_timeout` from the attempt's start.
    private mutating func moveDeadline(now: NIODeadline) {
        var deadline = now + self.timeouts.silence
        if !self.firstBodyByteSeen, let firstByte = self.timeouts.firstByte, let started = self.attemptStartedAt {
            deadline = min(deadline, started + firstByte)
        }
        self.deadline = deadline
    }
}
