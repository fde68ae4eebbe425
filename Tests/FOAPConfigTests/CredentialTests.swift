import Foundation
import XCTest

@testable import FOAPConfig

/// Upstream keys: where they are looked up, what happens when none is found, and that they never leak.
final class CredentialTests: XCTestCase {
    private func file(_ keySettings: String) -> String {
        providerFile(endpoints: #"{"path": "v1/embeddings", "target_model_name": "t"}"#, providerExtras: keySettings)
    }

    private func credential(
        _ keySettings: String,
        environment: [String: String] = [:],
        in directory: TemporaryConfigDirectory? = nil
    ) throws -> (Credential?, [String]) {
        let directory = try directory ?? self.makeConfigDirectory()
        try directory.write("p.json", self.file(keySettings))
        let snapshot = try self.load(directory, environment: environment).get()
        return (snapshot.model("m")?.provider.credential, snapshot.warnings.map(\.description))
    }

    func testNoKeySettingsMeansNoCredential() throws {
        XCTAssertEqual(try self.credential("").0, Credential.none)
        XCTAssertEqual(try self.credential(#""api_key_variable": "","#).0, Credential.none)
        XCTAssertEqual(try self.credential(#""api_key_variable": "","#).1, [])
    }

    func testKeyFromEnvironmentIsTrimmed() throws {
        let (credential, warnings) = try self.credential(#""api_key_variable": "K","#, environment: ["K": "sk-1\n"])
        XCTAssertEqual(credential, .key("sk-1"))
        XCTAssertEqual(warnings, [])
    }

    func testEmptyVariableFallsBackToCredentialsDirectory() throws {
        let directory = try self.makeConfigDirectory()
        let credentials = try TemporaryConfigDirectory()
        self.addTeardownBlock { credentials.remove() }
        try credentials.write("K", "sk-from-systemd\n")
        let (credential, _) = try self.credential(
            #""api_key_variable": "K", "api_key_file": "unused","#,
            environment: ["K": "", "CREDENTIALS_DIRECTORY": credentials.path],
            in: directory
        )
        XCTAssertEqual(credential, .key("sk-from-systemd"))
    }

    func testEnvironmentWinsOverCredentialsDirectory() throws {
        let credentials = try TemporaryConfigDirectory()
        self.addTeardownBlock { credentials.remove() }
        try credentials.write("K", "sk-file")
        let environment = ["K": "sk-env", "CREDENTIALS_DIRECTORY": credentials.path]
        XCTAssertEqual(try self.credential(#""api_key_variable": "K","#, environment: environment).0, .key("sk-env"))
    }

    func testAPIKeyFileIsTheLastFallbackAndMayBeRelative() throws {
        let directory = try self.makeConfigDirectory()
        try directory.write("secrets/key", "  sk-relative \r\n")
        let relative = try self.credential(#""api_key_variable": "K", "api_key_file": "secrets/key","#, in: directory)
        XCTAssertEqual(relative.0, .key("  sk-relative"))
        XCTAssertEqual(relative.1, [])

        let absolute = try self.credential(#""api_key_file": "\#(directory.path)/secrets/key","#, in: directory)
        XCTAssertEqual(absolute.0, .key("  sk-relative"))
    }

    func testMissingKeyIsAWarningNamingTheVariableAndAMissingCredential() throws {
        let credentials = try TemporaryConfigDirectory()
        self.addTeardownBlock { credentials.remove() }
        try credentials.write("K", "\n")
        let (credential, warnings) = try self.credential(
            #""api_key_variable": "K", "api_key_file": "/nonexistent/key","#,
            environment: ["CREDENTIALS_DIRECTORY": credentials.path]
        )
        XCTAssertEqual(credential, .missing(variable: "K"))
        XCTAssertEqual(
            warnings,
            [
                "p.json: p.api_key_variable: no upstream key found for K "
                    + "(searched environment, $CREDENTIALS_DIRECTORY, api_key_file); "
                    + "requests for this provider will fail"
            ]
        )
    }

    func testMissingKeyFileAloneNamesTheFile() throws {
        let (credential, warnings) = try self.credential(#""api_key_file": "/nonexistent/key","#)
        XCTAssertEqual(credential, .missing(variable: "/nonexistent/key"))
        XCTAssertEqual(
            warnings,
            [
                "p.json: p.api_key_file: no upstream key found for /nonexistent/key (searched api_key_file); "
                    + "requests for this provider will fail"
            ]
        )
    }

    func testVariableNamesCannotEscapeTheCredentialsDirectory() throws {
        let credentials = try TemporaryConfigDirectory()
        self.addTeardownBlock { credentials.remove() }
        try credentials.write("sub/K", "sk-nested")
        let environment = ["CREDENTIALS_DIRECTORY": credentials.path]
        XCTAssertEqual(
            try self.credential(#""api_key_variable": "sub/K","#, environment: environment).0,
            .missing(variable: "sub/K")
        )
    }

    func testKeyIsNeverPrinted() throws {
        let secret = "sk-very-secret-value"
        let (credential, _) = try self.credential(#""api_key_variable": "K","#, environment: ["K": secret])
        let model = try XCTUnwrap(
            try self.loadSnapshot(
                ["p.json": self.file(#""api_key_variable": "K","#)],
                environment: ["K": secret]
            ).model("m")
        )
        XCTAssertEqual(credential?.description, "key(***)")
        var dumped = ""
        dump(model, to: &dumped)
        for text in [String(describing: credential), String(reflecting: credential), "\(model)", dumped] {
            XCTAssertFalse(text.contains(secret), text)
        }
        XCTAssertEqual(Credential.missing(variable: "K").description, "missing(variable: K)")
    }

    func testRotatingAKeyChangesTheSourceDigest() throws {
        let directory = try self.makeConfigDirectory(["p.json": self.file(#""api_key_variable": "K","#)])
        let missing = try self.load(directory).get().sourceDigest
        let first = try self.load(directory, environment: ["K": "sk-1"]).get().sourceDigest
        let again = try self.load(directory, environment: ["K": "sk-1"]).get().sourceDigest
        let rotated = try self.load(directory, environment: ["K": "sk-2"]).get().sourceDigest
        XCTAssertEqual(first, again)
        XCTAssertNotEqual(first, rotated)
        XCTAssertNotEqual(first, missing)
        XCTAssertFalse(first.contains("sk-1"))
    }
}
