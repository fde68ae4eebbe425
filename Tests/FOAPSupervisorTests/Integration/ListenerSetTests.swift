import XCTest

@testable import FOAPSupervisor
import FOAPSystemd

#if canImport(Glibc)
import Glibc
#endif

final class ListenerSetTests: XCTestCase {
    func testPortZeroBindsEverySlotToTheKernelChosenPortWithReusePort() throws {
        let listeners = try ListenerSet.make(host: "127.0.0.1", port: 0, slots: 3)
        defer { listeners.allDescriptors.forEach { close($0) } }
        XCTAssertEqual(listeners.origin, .opened)
        XCTAssertEqual(listeners.perSlot.count, 3)
        XCTAssertGreaterThan(listeners.port, 0)
        XCTAssertEqual(listeners.boundAddress, "127.0.0.1:\(listeners.port)")
        for fd in listeners.allDescriptors {
            XCTAssertEqual(try SocketAddress.local(of: fd).port, listeners.port)
        }
        // A client connection is accepted by one of the slot sockets.
        let client = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(client) }
        let address = try SocketAddress.resolve(host: "127.0.0.1", port: listeners.port)
        XCTAssertEqual(address.withSockaddr { connect(client, $0, $1) }, 0)
    }

    func testIPv6LoopbackLiteral() throws {
        let listeners = try ListenerSet.make(host: "::1", port: 0, slots: 1)
        defer { listeners.allDescriptors.forEach { close($0) } }
        XCTAssertEqual(listeners.boundAddress, "[::1]:\(listeners.port)")
    }

    func testSocketActivatedListenersAreSharedByAllSlots() throws {
        let opened = try ListenerSet.make(host: "127.0.0.1", port: 0, slots: 1)
        defer { opened.allDescriptors.forEach { close($0) } }
        let fd = opened.perSlot[0][0]
        let activated = try ListenerSet.make(
            host: "ignored", port: 1, slots: 2, systemdSockets: [SystemdListenedSocket(fd: fd, name: "foap.socket")]
        )
        XCTAssertEqual(activated.origin, .socketActivation)
        XCTAssertEqual(activated.perSlot, [[fd], [fd]])
        XCTAssertEqual(activated.port, opened.port)
    }

    func testStoredListenersAreAdoptedPerSlotAndMissingOnesOpenedOnTheirPort() throws {
        let previous = try ListenerSet.make(host: "127.0.0.1", port: 0, slots: 1)
        let stored = previous.perSlot[0][0]
        let adopted = try ListenerSet.make(
            host: "127.0.0.1", port: 0, slots: 2,
            systemdSockets: [SystemdListenedSocket(fd: stored, name: ListenerSet.storeName)]
        )
        defer { adopted.allDescriptors.forEach { close($0) } }
        XCTAssertEqual(adopted.origin, .fileDescriptorStore)
        XCTAssertEqual(adopted.perSlot[0], [stored])
        XCTAssertEqual(try SocketAddress.local(of: adopted.perSlot[1][0]).port, previous.port)
    }

    /// SO_REUSEPORT would let a second master share the port with the first, each answering some requests with its
    /// own config: it is refused instead, and the port is free again once the first is gone.
    func testAPortAnotherProcessListensOnIsRefused() throws {
        let first = try ListenerSet.make(host: "127.0.0.1", port: 0, slots: 2)
        XCTAssertThrowsError(try ListenerSet.make(host: "127.0.0.1", port: first.port, slots: 2)) { error in
            XCTAssertTrue(error is ListenerSet.AddressInUse, "\(error)")
            XCTAssertTrue("\(error)".contains("127.0.0.1:\(first.port)"), "\(error)")
        }
        XCTAssertThrowsError(try ListenerSet.make(host: "0.0.0.0", port: first.port, slots: 1))
        first.allDescriptors.forEach { close($0) }
        let second = try ListenerSet.make(host: "127.0.0.1", port: first.port, slots: 2)
        second.allDescriptors.forEach { close($0) }
    }

    func testUnresolvableHostThrows() {
        XCTAssertThrowsError(try ListenerSet.make(host: "not a host", port: 0, slots: 1))
    }
}
