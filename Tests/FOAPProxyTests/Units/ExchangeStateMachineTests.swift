import NIOCore
import NIOHTTP1
import XCTest

@testable import FOAPProxy

/// An exchange's decisions as action tables: events in, actions out, the clock moved by hand.
final class ExchangeStateMachineTests: XCTestCase {
    typealias Machine = ExchangeStateMachine
    typealias Action = ExchangeStateMachine.Action

    let t0 = NIODeadline.uptimeNanoseconds(1_000_000_000)
    let timeouts = Machine.AttemptTimeouts(silence: .seconds(5), firstByte: nil)
    let ok = ClientResponseHead(HTTPResponseHead(version: .http1_1, status: .ok))
    let body = ByteBuffer(string: "{\"id\":1}")

    func machine(declared: Int? = 0, expectsContinue: Bool = false) -> Machine {
        Machine(declaredLength: declared, maxDiscardedBodySize: 64, expectsContinue: expectsContinue)
    }

    /// A machine with its whole request read and attempt 0 in flight.
    func sent(timeouts: Machine.AttemptTimeouts? = nil) -> (Machine, Machine.AttemptID) {
        var machine = self.machine()
        XCTAssertEqual(machine.requestEnded(), .none)
        let attempt = machine.attemptStarted(now: self.t0, timeouts: timeouts ?? self.timeouts)
        return (machine, attempt)
    }

    // MARK: Refusals and the body

    func testARefusalAfterTheBodyIsAnsweredAndKeepsTheConnection() {
        var machine = self.machine()
        XCTAssertEqual(machine.requestEnded(), .none)
        XCTAssertEqual(machine.refused(.modelNotFound("m")), .answer(.modelNotFound("m"), close: false))
        XCTAssertTrue(machine.isFinished)
        XCTAssertEqual(machine.refused(.malformedHTTP), .none, "one answer per exchange")
    }

    func testARefusalWithASmallRestOfBodyWaitsForIt() {
        var machine = self.machine(declared: 50)
        XCTAssertEqual(machine.bodyPartReceived(count: 10, limit: 1000), .none)
        XCTAssertEqual(machine.refused(.missingAPIKey), .discardRestThenAnswer)
        XCTAssertFalse(machine.isFinished)
        XCTAssertEqual(machine.bodyPartReceived(count: 40, limit: 1000), .none)
        XCTAssertEqual(machine.requestEnded(), .answer(.missingAPIKey, close: false))
    }

    func testARefusalWithALargeOrUnknownRestIsAnsweredAtOnceAndCloses() {
        var large = self.machine(declared: 300_000_000)
        XCTAssertEqual(large.refused(.missingAPIKey), .answer(.missingAPIKey, close: true))
        var chunked = self.machine(declared: nil)
        XCTAssertEqual(chunked.refused(.missingAPIKey), .answer(.missingAPIKey, close: true))
        var waiting = self.machine(declared: 10, expectsContinue: true)
        XCTAssertEqual(waiting.refused(.missingAPIKey), .answer(.missingAPIKey, close: true), "no 100 was sent")
    }

    func testABodyOverTheLimitIsRefusedAtOnceAndAnAttemptInFlightIsAbandoned() {
        var machine = self.machine(declared: nil)
        XCTAssertEqual(
            machine.bodyPartReceived(count: 101, limit: 100), .answer(.bodyTooLarge(limit: 100), close: true))

        var streaming = self.machine(declared: nil)
        let attempt = streaming.attemptStarted(now: self.t0, timeouts: self.timeouts)
        XCTAssertEqual(
            streaming.bodyPartReceived(count: 101, limit: 100),
            .abandonAttemptAndAnswer(attempt, .bodyTooLarge(limit: 100), close: true)
        )
        XCTAssertEqual(streaming.upstreamFailed(attempt: attempt), .none, "its failure callback finds nothing")
    }

    func testAnAbortAfterTheAnswerStartedCutsTheConnection() {
        var (machine, attempt) = self.sent()
        XCTAssertEqual(
            machine.upstreamHeadReceived(self.ok, attempt: attempt, bufferWhole: false, holdForFirstByte: false, now: self.t0),
            .none)
        XCTAssertEqual(machine.upstreamReadCompleted(attempt: attempt), .writeHead(self.ok))
        XCTAssertEqual(machine.abortRequest(.duplicateMultipartModel), .cutConnection(abandoning: attempt))
    }

    // MARK: The answer

    func testAHeadIsHeldToTheEndOfItsReadThenRelayed() {
        var (machine, attempt) = self.sent()
        XCTAssertEqual(
            machine.upstreamHeadReceived(self.ok, attempt: attempt, bufferWhole: false, holdForFirstByte: false, now: self.t0),
            .none)
        XCTAssertFalse(machine.answerStarted)
        XCTAssertEqual(machine.upstreamBodyReceived(self.body, attempt: attempt, imageLimit: 100, now: self.t0),
                       .writeHeadAndBody(self.ok, self.body))
        XCTAssertTrue(machine.answerStarted)
        XCTAssertEqual(machine.upstreamBodyReceived(self.body, attempt: attempt, imageLimit: 100, now: self.t0),
                       .writeBody(self.body))
        XCTAssertEqual(machine.upstreamEnded(attempt: attempt), .writeEnd(head: nil))
        XCTAssertTrue(machine.isFinished)
    }

    /// Bad framing in the read that brought the head: nothing was written, so it is still an error answer.
    func testAFailureWhileTheHeadIsHeldCanStillBeAnswered() {
        var (machine, attempt) = self.sent()
        _ = machine.upstreamHeadReceived(self.ok, attempt: attempt, bufferWhole: false, holdForFirstByte: false, now: self.t0)
        XCTAssertEqual(machine.upstreamFailed(attempt: attempt), .attemptFailedBeforeAnswer)
        XCTAssertEqual(machine.refused(.upstreamFailed(model: "u")), .answer(.upstreamFailed(model: "u"), close: false))
    }

    func testAFailureAfterBytesWereRelayedCutsTheConnection() {
        var (machine, attempt) = self.sent()
        _ = machine.upstreamHeadReceived(self.ok, attempt: attempt, bufferWhole: false, holdForFirstByte: false, now: self.t0)
        _ = machine.upstreamReadCompleted(attempt: attempt)
        XCTAssertEqual(machine.upstreamFailed(attempt: attempt), .cutConnection(abandoning: nil))
    }

    func testAnAnswerWithoutBodyWritesItsHeldHeadWithTheEnd() {
        var (machine, attempt) = self.sent()
        _ = machine.upstreamHeadReceived(self.ok, attempt: attempt, bufferWhole: false, holdForFirstByte: true, now: self.t0)
        XCTAssertEqual(machine.upstreamReadCompleted(attempt: attempt), .none, "held for the first byte")
        XCTAssertEqual(machine.upstreamEnded(attempt: attempt), .writeEnd(head: self.ok))
    }

    func testAnUnsolicitedUpgradeFailsTheAttempt() {
        var (machine, attempt) = self.sent()
        let switching = ClientResponseHead(HTTPResponseHead(version: .http1_1, status: .switchingProtocols))
        XCTAssertEqual(
            machine.upstreamHeadReceived(switching, attempt: attempt, bufferWhole: false, holdForFirstByte: false, now: self.t0),
            .failAttempt(attempt, reason: .unsolicitedUpgrade(status: 101)))
    }

    func testAnImageAnswerIsBufferedUpToItsLimit() {
        var (machine, attempt) = self.sent()
        _ = machine.upstreamHeadReceived(self.ok, attempt: attempt, bufferWhole: true, holdForFirstByte: false, now: self.t0)
        XCTAssertEqual(machine.upstreamReadCompleted(attempt: attempt), .none)
        XCTAssertEqual(machine.upstreamBodyReceived(self.body, attempt: attempt, imageLimit: 100, now: self.t0), .none)
        XCTAssertEqual(machine.upstreamEnded(attempt: attempt), .writeBuffered(self.ok, self.body))

        var (large, second) = self.sent()
        _ = large.upstreamHeadReceived(self.ok, attempt: second, bufferWhole: true, holdForFirstByte: false, now: self.t0)
        XCTAssertEqual(large.upstreamBodyReceived(self.body, attempt: second, imageLimit: 4, now: self.t0),
                       .writeHeadAndBody(self.ok, self.body), "too large to rewrite: passed through")
    }

    // MARK: Attempts

    func testAGivenUpAttemptsLateCallbacksFindNothing() {
        var (machine, first) = self.sent()
        XCTAssertTrue(machine.mayGiveUp(first))
        machine.attemptGivenUp(first)
        let second = machine.attemptStarted(now: self.t0, timeouts: self.timeouts)
        XCTAssertNotEqual(first, second)
        XCTAssertEqual(
            machine.upstreamHeadReceived(self.ok, attempt: first, bufferWhole: false, holdForFirstByte: false, now: self.t0),
            .none)
        XCTAssertEqual(machine.upstreamBodyReceived(self.body, attempt: first, imageLimit: 9, now: self.t0), .none)
        XCTAssertEqual(machine.upstreamEnded(attempt: first), .none)
        XCTAssertEqual(machine.upstreamFailed(attempt: first), .none)
        XCTAssertEqual(machine.currentAttempt, second)
        XCTAssertFalse(machine.isFinished)
    }

    // MARK: Deadlines (injected clock)

    func testTheSilenceTimeoutMovesWithEveryPart() {
        var (machine, attempt) = self.sent()
        XCTAssertEqual(machine.deadlinePassed(now: self.t0 + .seconds(4), clientHasUnsentBytes: false),
                       .checkAgain(at: self.t0 + .seconds(5)))
        _ = machine.upstreamHeadReceived(self.ok, attempt: attempt, bufferWhole: false, holdForFirstByte: false,
                                         now: self.t0 + .seconds(4))
        XCTAssertEqual(machine.deadlinePassed(now: self.t0 + .seconds(6), clientHasUnsentBytes: false),
                       .checkAgain(at: self.t0 + .seconds(9)))
        XCTAssertEqual(machine.deadlinePassed(now: self.t0 + .seconds(9), clientHasUnsentBytes: false),
                       .failAttempt(attempt, reason: .timeout))
    }

    /// `first_byte_timeout`: a head does not move the bound on the first body byte.
    func testTheFirstByteTimeoutCountsFromTheAttemptsStart() {
        var (machine, attempt) = self.sent(timeouts: .init(silence: .seconds(60), firstByte: .seconds(2)))
        _ = machine.upstreamHeadReceived(self.ok, attempt: attempt, bufferWhole: false, holdForFirstByte: true,
                                         now: self.t0 + .seconds(1))
        XCTAssertEqual(machine.deadlinePassed(now: self.t0 + .seconds(2), clientHasUnsentBytes: false),
                       .failAttempt(attempt, reason: .timeout))
        XCTAssertEqual(machine.upstreamFailed(attempt: attempt), .attemptFailedBeforeAnswer, "no byte relayed yet")
        XCTAssertEqual(machine.currentTimeout, .seconds(2))
    }

    func testAClientThatDoesNotReadIsTheOneStalled() {
        var (machine, attempt) = self.sent()
        _ = machine.upstreamHeadReceived(self.ok, attempt: attempt, bufferWhole: false, holdForFirstByte: false, now: self.t0)
        _ = machine.upstreamBodyReceived(self.body, attempt: attempt, imageLimit: 9, now: self.t0)
        XCTAssertEqual(machine.deadlinePassed(now: self.t0 + .seconds(5), clientHasUnsentBytes: true),
                       .failAttempt(attempt, reason: .clientStalled))
    }

    func testUploadProgressKeepsAnUnansweredAttemptAlive() {
        var machine = self.machine(declared: nil)
        _ = machine.attemptStarted(now: self.t0, timeouts: self.timeouts)
        machine.uploadProgressed(now: self.t0 + .seconds(4))
        XCTAssertEqual(machine.deadlinePassed(now: self.t0 + .seconds(5), clientHasUnsentBytes: false),
                       .checkAgain(at: self.t0 + .seconds(9)))
    }

    func testAClientThatClosesAbandonsTheAttemptOnce() {
        var (machine, attempt) = self.sent()
        XCTAssertEqual(machine.clientClosed(), .abandonAttemptAndFinish(attempt))
        XCTAssertEqual(machine.clientClosed(), .none)
        XCTAssertEqual(machine.deadlinePassed(now: self.t0 + .seconds(99), clientHasUnsentBytes: false), .none)
    }
}
