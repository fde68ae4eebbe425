import XCTest

@testable import FOAPConfig

final class SHA256Tests: XCTestCase {
    private func hex(_ bytes: [UInt8]) -> String {
        var hash = SHA256()
        hash.update(bytes)
        return hash.finalizeHex()
    }

    /// FIPS 180-4 examples plus lengths around the padding boundary (55, 56, 64 bytes) and several blocks.
    func testMatchesKnownDigests() {
        XCTAssertEqual(self.hex([]), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(self.hex(Array("abc".utf8)), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(
            self.hex(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
        )
        let a = UInt8(ascii: "a")
        XCTAssertEqual(
            self.hex([UInt8](repeating: a, count: 55)),
            "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318"
        )
        XCTAssertEqual(
            self.hex([UInt8](repeating: a, count: 56)),
            "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a"
        )
        XCTAssertEqual(
            self.hex([UInt8](repeating: a, count: 64)),
            "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb"
        )
        XCTAssertEqual(
            self.hex([UInt8](repeating: a, count: 1000)),
            "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3"
        )
    }

    func testIncrementalUpdatesEqualOneShot() {
        var hash = SHA256()
        for chunk in stride(from: 0, to: 1000, by: 37) {
            hash.update([UInt8](repeating: UInt8(ascii: "a"), count: min(37, 1000 - chunk)))
        }
        XCTAssertEqual(hash.finalizeHex(), self.hex([UInt8](repeating: UInt8(ascii: "a"), count: 1000)))
    }
}
