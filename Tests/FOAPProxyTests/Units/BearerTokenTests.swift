import XCTest

@testable import FOAPProxy

/// `Authorization: Bearer <key>` as the authenticator reads it: byte-wise for ASCII values, by `Character`s
/// otherwise, with the same answers.
final class BearerTokenTests: XCTestCase {
    func testSchemeInAnyCaseWithBlanksAround() {
        XCTAssertEqual(ClientAuthenticator.bearerToken("Bearer sk-foap-1"), "sk-foap-1")
        XCTAssertEqual(ClientAuthenticator.bearerToken("bearer sk-foap-1"), "sk-foap-1")
        XCTAssertEqual(ClientAuthenticator.bearerToken("BEARER sk-foap-1"), "sk-foap-1")
        XCTAssertEqual(ClientAuthenticator.bearerToken(" \tBearer  \t sk-foap-1 \t"), "sk-foap-1")
    }

    func testNoTokenOrAnotherScheme() {
        XCTAssertNil(ClientAuthenticator.bearerToken("Bearer"))
        XCTAssertNil(ClientAuthenticator.bearerToken("Bearer  \t "))
        XCTAssertNil(ClientAuthenticator.bearerToken("Bearer\tsk-foap-1"), "the scheme ends with a space")
        XCTAssertNil(ClientAuthenticator.bearerToken("Basic dXNlcjpwYXNz"))
        XCTAssertNil(ClientAuthenticator.bearerToken("sk-foap-1"))
        XCTAssertNil(ClientAuthenticator.bearerToken(""))
    }

    func testNonASCIIValuesTakeTheCharacterPath() {
        XCTAssertEqual(ClientAuthenticator.bearerToken("Bearer clé-ü "), "clé-ü")
        XCTAssertEqual(ClientAuthenticator.bearerToken(" bEaReR  ключ"), "ключ")
        XCTAssertNil(ClientAuthenticator.bearerToken("Bearér key"))
    }
}
