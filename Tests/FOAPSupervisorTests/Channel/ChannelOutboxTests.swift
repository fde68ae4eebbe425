import FOAPWorkerChannel
import XCTest

@testable import FOAPSupervisor

/// The master's queue per worker channel as tables: what is sent in which order, what waits, what is dropped.
final class ChannelOutboxTests: XCTestCase {
    let t0 = ContinuousClock.now

    /// A socket that takes `room` packets, then is full (or broken); records what it took.
    struct FakeSocket {
        var room: Int
        var broken = false
        var taken: [ChannelPacket?] = []

        mutating func send(_ bytes: [UInt8]) -> ChannelSocket.SendResult {
            if self.broken { return .broken(errno: EPIPE) }
            guard self.room > 0 else { return .full }
            self.room -= 1
            self.taken.append(ChannelPacket(decoding: bytes))
            return .sent
        }
    }

    func answer(_ pieces: Int) -> [ChannelPacket] {
        (0..<pieces).map { .expositionPart("piece \($0)\n") } + [.expositionEnd]
    }

    func testEverythingGoesOutAtOnceWhenItFits() {
        var outbox = ChannelOutbox()
        var socket = FakeSocket(room: 10)
        outbox.enqueue(.message(.accept), [.master(.accept)])
        outbox.enqueue(.exposition(bytes: 16), self.answer(2), deadline: self.t0 + .seconds(1))
        XCTAssertEqual(outbox.flush(now: self.t0) { socket.send($0) }, .init())
        XCTAssertEqual(socket.taken, [.master(.accept)] + self.answer(2))
        XCTAssertTrue(outbox.isEmpty)
        XCTAssertNil(outbox.deadline)
    }

    /// A full socket keeps the rest, in order; a lifecycle word queued meanwhile goes after the answer, never before
    /// or in the middle of it.
    func testAFullSocketKeepsTheRestInOrderAndADrainWaitsBehindTheAnswer() {
        var outbox = ChannelOutbox()
        var socket = FakeSocket(room: 2)
        outbox.enqueue(.exposition(bytes: 24), self.answer(3), deadline: self.t0 + .seconds(1))
        XCTAssertEqual(outbox.flush(now: self.t0) { socket.send($0) }, .init())
        XCTAssertEqual(socket.taken, Array(self.answer(3).prefix(2)))
        XCTAssertEqual(outbox.deadline, self.t0 + .seconds(1))
        outbox.enqueue(.message(.drain), [.master(.drain)])
        socket.room = 1
        XCTAssertEqual(outbox.flush(now: self.t0 + .milliseconds(10)) { socket.send($0) }, .init())
        XCTAssertEqual(socket.taken.last, .expositionPart("piece 2\n"))
        socket.room = 10
        XCTAssertEqual(outbox.flush(now: self.t0 + .milliseconds(20)) { socket.send($0) }, .init())
        XCTAssertEqual(socket.taken, self.answer(3) + [.master(.drain)])
        XCTAssertTrue(outbox.isEmpty)
    }

    /// An answer whose deadline passed is dropped (what was sent of it stays sent); the drain behind it still goes.
    func testAnAnswerPastItsDeadlineIsDroppedAndWhatFollowsStillGoes() {
        var outbox = ChannelOutbox()
        var socket = FakeSocket(room: 1)
        outbox.enqueue(.exposition(bytes: 24), self.answer(3), deadline: self.t0 + .seconds(1))
        outbox.enqueue(.message(.drain), [.master(.drain)])
        _ = outbox.flush(now: self.t0) { socket.send($0) }
        socket.room = 0
        XCTAssertEqual(outbox.flush(now: self.t0 + .milliseconds(999)) { socket.send($0) }, .init())
        XCTAssertFalse(outbox.isEmpty)
        socket.room = 10
        XCTAssertEqual(
            outbox.flush(now: self.t0 + .seconds(1)) { socket.send($0) }, .init(dropped: [.exposition(bytes: 24)])
        )
        XCTAssertEqual(socket.taken, [.expositionPart("piece 0\n"), .master(.drain)])
        XCTAssertTrue(outbox.isEmpty)
    }

    /// Lifecycle words have no deadline: they wait as long as the socket is full.
    func testALifecycleWordWaitsForRoomWithoutDeadline() {
        var outbox = ChannelOutbox()
        var socket = FakeSocket(room: 0)
        outbox.enqueue(.message(.accept), [.master(.accept)])
        XCTAssertNil(outbox.deadline)
        XCTAssertEqual(outbox.flush(now: self.t0 + .seconds(3600)) { socket.send($0) }, .init())
        socket.room = 1
        XCTAssertEqual(outbox.flush(now: self.t0 + .seconds(7200)) { socket.send($0) }, .init())
        XCTAssertEqual(socket.taken, [.master(.accept)])
    }

    func testABrokenSocketDropsEverythingAndSaysWhy() {
        var outbox = ChannelOutbox()
        var socket = FakeSocket(room: 0, broken: true)
        outbox.enqueue(.exposition(bytes: 8), self.answer(1), deadline: self.t0 + .seconds(1))
        outbox.enqueue(.message(.drain), [.master(.drain)])
        XCTAssertEqual(
            outbox.flush(now: self.t0) { socket.send($0) },
            .init(dropped: [.exposition(bytes: 8), .message(.drain)], brokenErrno: EPIPE)
        )
        XCTAssertTrue(outbox.isEmpty)
    }
}
