import XCTest

@testable import FOAPProxy

final class LoopBoundCellTests: XCTestCase {
    /// Counts its instances, so a test sees when the cell destroys the value it holds.
    private final class Tracked {
        nonisolated(unsafe) static var alive = 0
        var value: Int

        init(_ value: Int) {
            self.value = value
            Self.alive += 1
        }

        deinit { Self.alive -= 1 }
    }

    func testChangesMadeThroughTheCellAreSeenByLaterReads() {
        let cell = LoopBoundCell([1, 2])
        defer { cell.free() }
        cell.value.append(3)
        cell.value[0] = 10
        XCTAssertEqual(cell.value, [10, 2, 3])
    }

    func testACopyOfTheCellSharesTheValue() {
        let cell = LoopBoundCell(0)
        defer { cell.free() }
        let copy = cell
        copy.value += 5
        XCTAssertEqual(cell.value, 5)
    }

    func testFreeDestroysTheValue() {
        let before = Tracked.alive
        let cell = LoopBoundCell([Tracked(1), Tracked(2)])
        cell.value[1].value = 7
        XCTAssertEqual(cell.value.map(\.value), [1, 7])
        XCTAssertEqual(Tracked.alive, before + 2)
        cell.free()
        XCTAssertEqual(Tracked.alive, before)
    }
}
