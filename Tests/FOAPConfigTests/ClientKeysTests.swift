import Foundation
import XCTest

@testable import FOAPConfig

/// The client key file (`FOAP_CLIENT_KEYS`): format, every error with its key path, warnings, digest, snapshot.
final class ClientKeysTests: XCTestCase {
    static let hashA = "3f0139fe8718f1d5b151065f95b677dce10690abd7c27f833cb38544124d9e6d"  // sk-foap-test-key-a
    static let hashB = "db1657d38fbdd32713bc0d6a091775ed2f47c868adba10257b8323aee2a75dec"  // sk-foap-test-key-b

    static let models = """
        {
          "openai": { "prefix": "openai-", "target_base_url": "http://127.0.0.1:9", "models": {
            "gpt-4o": { "endpoints": [{ "path": "v1/chat/completions", "target_model_name": "g" }] },
            "tts-1": { "endpoints": [{ "path": "v1/audio/speech", "target_model_name": "t" }] } } },
          "local": { "prefix": "local/", "target_base_url": "http://127.0.0.1:9", "models": {
            "llama3.1:8b": { "endpoints": [{ "path": "v1/completions", "target_model_name": "l" }] } } }
        }
        """

    /// Loads the model file above with `keys` as the key file (written outside the scanned directory level).
    private func loadWithKeys(_ keys: String) throws -> (ConfigSnapshotResult, path: String) {
        let directory = try self.makeConfigDirectory(["models.json": Self.models])
        let path = try directory.write("secrets/clients.json", keys)
        return (try self.load(directory, environment: ["FOAP_CLIENT_KEYS": path]), path)
    }

    private func keyErrors(_ keys: String, file: StaticString = #filePath, line: UInt = #line) throws -> [String] {
        let (result, path) = try self.loadWithKeys(keys)
        switch result {
        case .success:
            XCTFail("expected the load to fail", file: file, line: line)
            return []
        case .failure(let error):
            return error.errors.map { $0.description.replacingOccurrences(of: path, with: "KEYS") }
        }
    }

    private func keyWarnings(_ keys: String) throws -> [String] {
        let (result, path) = try self.loadWithKeys(keys)
        return try result.get().warnings.map { $0.description.replacingOccurrences(of: path, with: "KEYS") }
    }

    // MARK: - Format

    func testKeyFileLoadsIntoTheSnapshot() throws {
        let (result, path) = try self.loadWithKeys(
            """
            {"keys": [
              {"name": "team-a", "sha256": "\(Self.hashA)", "models": ["openai-*", "local/llama3.1:8b"],
               "expires": "2027-01-31"},
              {"name": "ops", "sha256": "\(Self.hashB.uppercased())", "models": ["*"]}
            ]}
            """
        )
        let snapshot = try result.get()
        XCTAssertEqual(snapshot.warnings, [])
        let keys = try XCTUnwrap(snapshot.clientKeys)
        XCTAssertEqual(keys.file, path)
        XCTAssertEqual(keys.keys.map(\.name), ["team-a", "ops"])
        XCTAssertEqual(keys.keys[0].digest, ClientKeyDigest(hashing: "sk-foap-test-key-a".utf8))
        XCTAssertEqual(keys.keys[1].digest.hex, Self.hashB)
        XCTAssertEqual(keys.keys[0].models, [ModelPattern("openai-*"), ModelPattern("local/llama3.1:8b")])
        XCTAssertEqual(keys.keys[0].expires, "2027-01-31")
        XCTAssertEqual(keys.keys[0].expiresAt, 1_801_440_000)
        XCTAssertNil(keys.keys[1].expiresAt)
        XCTAssertEqual(snapshot.models.map(\.id).filter { keys.keys[0].allows(model: $0) }, [
            "openai-gpt-4o", "openai-tts-1", "local/llama3.1:8b",
        ])
    }

    func testNoVariableOrAnEmptyOneIsKeylessMode() throws {
        let directory = try self.makeConfigDirectory(["models.json": Self.models])
        XCTAssertNil(try self.load(directory).get().clientKeys)
        XCTAssertNil(try self.load(directory, environment: ["FOAP_CLIENT_KEYS": ""]).get().clientKeys)
        XCTAssertNil(ConfigLoader(directory: directory.path, environment: [:]).clientKeysPath)
    }

    func testSnapshotWithKeysSurvivesTheTripToAWorker() throws {
        let (result, _) = try self.loadWithKeys(
            #"{"keys": [{"name": "a", "sha256": "\#(Self.hashA)", "models": ["*"], "expires": "2030-12-31"}]}"#
        )
        let snapshot = try result.get()
        let decoded = try ConfigSnapshot(encoded: snapshot.encoded())
        XCTAssertEqual(decoded, snapshot)
        XCTAssertEqual(decoded.clientKeys?.keys.first?.expiresAt, snapshot.clientKeys?.keys.first?.expiresAt)
    }

    func testEditingTheKeyFileChangesTheDigest() throws {
        let directory = try self.makeConfigDirectory(["models.json": Self.models])
        let path = try directory.write("secrets/clients.json", #"{"keys": []}"#)
        let environment = ["FOAP_CLIENT_KEYS": path]
        let empty = try self.load(directory, environment: environment).get().sourceDigest
        XCTAssertEqual(try self.load(directory, environment: environment).get().sourceDigest, empty)
        let oneKeyFile = #"{"keys": [{"name": "a", "sha256": "\#(Self.hashA)", "models": ["*"]}]}"#
        try directory.write("secrets/clients.json", oneKeyFile)
        let oneKey = try self.load(directory, environment: environment).get().sourceDigest
        XCTAssertNotEqual(oneKey, empty)
        XCTAssertNotEqual(try self.load(directory).get().sourceDigest, oneKey, "keyless differs from keyed")
    }

    // MARK: - Errors

    func testFileLevelErrors() throws {
        let directory = try self.makeConfigDirectory(["models.json": Self.models])
        let missing = directory.path + "/nope.json"
        let result = try self.load(directory, environment: ["FOAP_CLIENT_KEYS": missing])
        XCTAssertThrowsError(try result.get()) { error in
            XCTAssertEqual(
                (error as? ConfigLoadError)?.errors.map(\.description),
                ["\(missing): the client key file (FOAP_CLIENT_KEYS) does not exist"]
            )
        }
        XCTAssertEqual(
            try self.keyErrors("{\"keys\": [\n  {\"name\": }\n]}"),
            ["KEYS:2:12: unexpected '}', expected a value"]
        )
        XCTAssertEqual(
            try self.keyErrors("[]"),
            [#"KEYS:1:1: the top level must be an object with a "keys" array, found an array"#]
        )
        XCTAssertEqual(try self.keyErrors("{}"), ["KEYS: keys: missing"])
        XCTAssertEqual(try self.keyErrors(#"{"keys": {}}"#), ["KEYS: keys: expected an array of keys, found an object"])
        XCTAssertEqual(try self.keyErrors(#"{"keys": ["x"]}"#), ["KEYS: keys[0]: expected an object, found a string"])
    }

    func testEveryEntryErrorNamesItsKeyPath() throws {
        let errors = try self.keyErrors(
            """
            {"keys": [
              {},
              {"name": 1, "sha256": "abc", "models": "openai-*"},
              {"name": "", "sha256": "sk-foap-oops-a-plain-key", "models": []},
              {"name": "ok", "sha256": "\(Self.hashA)", "models": ["", 3], "expires": "2027-02-30"},
              {"name": "late", "sha256": "\(Self.hashA)", "models": ["*"], "expires": 20270101}
            ]}
            """
        )
        let hashMessage = "must be the key's SHA-256 as 64 hex digits (`foap keys new` prints it)"
        XCTAssertEqual(errors, [
            "KEYS: keys[0].name: missing",
            "KEYS: keys[0].sha256: missing",
            "KEYS: keys[0].models: missing",
            "KEYS: keys[1].name: expected a string, found a number",
            "KEYS: keys[1].sha256: \(hashMessage)",
            "KEYS: keys[1].models: expected an array of model ids and patterns, found a string",
            "KEYS: keys[2].name: must be a non-empty string without control characters",
            "KEYS: keys[2].sha256: \(hashMessage); this looks like a plain key, which must never be stored here",
            #"KEYS: keys[2].models: must list at least one model id or pattern ("*" allows every model)"#,
            "KEYS: keys[3].models[0]: must not be empty",
            "KEYS: keys[3].models[1]: expected a model id or pattern (a string), found a number",
            "KEYS: keys[3].expires: must be a date written YYYY-MM-DD (the last day the key works, UTC)",
            "KEYS: keys[4].expires: must be a date written YYYY-MM-DD (the last day the key works, UTC)",
        ])
        XCTAssertFalse(errors.joined().contains("oops"), "a misplaced key is never printed")
    }

    func testDuplicateNamesAndHashesAreErrors() throws {
        let errors = try self.keyErrors(
            """
            {"keys": [
              {"name": "a", "sha256": "\(Self.hashA)", "models": ["*"]},
              {"name": "a", "sha256": "\(Self.hashB)", "models": ["*"]},
              {"name": "b", "sha256": "\(Self.hashA.uppercased())", "models": ["*"]}
            ]}
            """
        )
        XCTAssertEqual(errors, [
            "KEYS: keys[1].name: duplicate name, already used by keys[0]",
            "KEYS: keys[2].sha256: the same key hash as keys[0]",
        ])
    }

    func testErrorsInTheKeyFileFailTheWholeLoad() throws {
        let directory = try self.makeConfigDirectory(["models.json": Self.models, "bad.json": "{"])
        let path = try directory.write("secrets/clients.json", "{}")
        let result = try self.load(directory, environment: ["FOAP_CLIENT_KEYS": path])
        XCTAssertThrowsError(try result.get()) { error in
            XCTAssertEqual((error as? ConfigLoadError)?.errors.map(\.file), ["bad.json", path])
        }
    }

    // MARK: - Warnings

    func testWarningsForUnknownKeysPatternsMatchingNothingExpiredKeysAndNoKeys() throws {
        let warnings = try self.keyWarnings(
            """
            {"comment": "x", "keys": [
              {"name": "a", "sha256": "\(Self.hashA)", "models": ["openai-*", "opneai-*"], "note": 1},
              {"name": "old", "sha256": "\(Self.hashB)", "models": ["*"], "expires": "2023-11-13"}
            ]}
            """
        )
        XCTAssertEqual(warnings, [
            "KEYS: comment: unknown key, ignored",
            "KEYS: keys[0].note: unknown key, ignored",
            "KEYS: keys[0].models[1]: matches no configured model",
            "KEYS: keys[1].expires: expired on 2023-11-13; requests with this key are refused",
        ])
        XCTAssertEqual(
            try self.keyWarnings(#"{"keys": []}"#),
            ["KEYS: keys: no keys: every request that needs a key will be refused"]
        )
    }

    // MARK: - Glob matching

    func testGlobMatching() {
        func matches(_ pattern: String, _ id: String) -> Bool { ModelPattern(pattern).matches(id) }
        XCTAssertTrue(matches("gpt-4o", "gpt-4o"))
        XCTAssertFalse(matches("gpt-4o", "gpt-4o-mini"), "an exact id is not a prefix")
        XCTAssertTrue(matches("openai-*", "openai-gpt-4o"))
        XCTAssertTrue(matches("openai-*", "openai-"), "* matches nothing too")
        XCTAssertFalse(matches("openai-*", "azure-openai-gpt"))
        XCTAssertTrue(matches("*", "anything/at all"))
        XCTAssertTrue(matches("*-mini", "gpt-4o-mini"))
        XCTAssertTrue(matches("gpt-*-mini", "gpt-4o-mini"), "* in the middle")
        XCTAssertFalse(matches("gpt-*-mini", "gpt-4o-mini-2"))
        XCTAssertFalse(matches("a*a", "a"), "prefix and suffix may not overlap")
        XCTAssertTrue(matches("a*a", "aa"))
        XCTAssertTrue(matches("*llama*8b*", "meta-llama/Llama-3.1-8b-instruct"))
        XCTAssertTrue(matches("a*b*c", "a-c-b-c"), "the earliest middle match leaves room for the rest")
        XCTAssertFalse(matches("a*b*c", "a-c-c"))
        XCTAssertTrue(matches("meta-llama/*", "meta-llama/Llama-3.1-8B"), "* crosses /")
        XCTAssertTrue(matches("*/Llama-*", "meta-llama/Llama-3.1-8B"))
        XCTAssertTrue(matches("local/*/q4", "local/llama/3.1/q4"))
        XCTAssertFalse(matches("local/*", "localx/llama"))
        XCTAssertTrue(matches("gpt-4?", "gpt-4?"), "only * is special")
        XCTAssertFalse(matches("gpt-4?", "gpt-4o"))
        XCTAssertTrue(matches("modèle-*", "modèle-été"), "UTF-8 ids")
    }

    // MARK: - Expiry

    func testExpiryDatesAreWholeDaysInUTC() throws {
        let date = try XCTUnwrap(ExpiryDate("2027-01-31"))
        XCTAssertEqual(date.endOfDay, 1_801_440_000, "2027-02-01T00:00:00Z")
        XCTAssertEqual(ExpiryDate("1970-01-01")?.endOfDay, 86_400)
        XCTAssertEqual(ExpiryDate("2000-02-29")?.endOfDay, 951_868_800, "2000 is a leap year")
        XCTAssertEqual(ExpiryDate("2024-02-29")?.endOfDay, 1_709_251_200)
        for invalid in ["2023-02-29", "1900-02-29", "2027-13-01", "2027-00-10", "2027-04-31", "2027-1-31",
                        "27-01-31", "2027/01/31", "2027-01-31T00:00:00Z", "1969-12-31", "", "２０２７-01-31"] {
            XCTAssertNil(ExpiryDate(invalid), invalid)
        }
    }

    func testKeyExpiresAtMidnightAfterItsDateWithAnInjectedClock() throws {
        let key = ClientKey(
            name: "a",
            digest: try XCTUnwrap(ClientKeyDigest(hex: Self.hashA)),
            models: [ModelPattern("*")],
            expires: ExpiryDate("2027-01-31")
        )
        XCTAssertFalse(key.isExpired(at: 1_801_440_000 - 86_400), "the first second of its last day")
        XCTAssertFalse(key.isExpired(at: 1_801_440_000 - 1), "the last second of its last day")
        XCTAssertTrue(key.isExpired(at: 1_801_440_000))
        let forever = ClientKey(name: "b", digest: key.digest, models: key.models)
        XCTAssertFalse(forever.isExpired(at: Int(Int32.max) * 4))
    }

    // MARK: - Digest

    func testDigestHexParsingHashingAndEquality() throws {
        XCTAssertEqual(
            ClientKeyDigest(hashing: "abc".utf8).hex,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        )
        XCTAssertEqual(ClientKeyDigest(hex: Self.hashA), ClientKeyDigest(hex: Self.hashA.uppercased()))
        XCTAssertEqual(ClientKeyDigest(hex: Self.hashA)?.hex, Self.hashA)
        XCTAssertNotEqual(ClientKeyDigest(hex: Self.hashA), ClientKeyDigest(hex: Self.hashB))
        var lastBitFlipped = Self.hashA
        lastBitFlipped.removeLast()
        lastBitFlipped += "c"
        XCTAssertNotEqual(ClientKeyDigest(hex: Self.hashA), ClientKeyDigest(hex: lastBitFlipped))
        XCTAssertNil(ClientKeyDigest(hex: String(Self.hashA.dropLast())))
        XCTAssertNil(ClientKeyDigest(hex: String(Self.hashA.dropLast()) + "g"))
        let set: Set = [ClientKeyDigest(hex: Self.hashA)!, ClientKeyDigest(hashing: "sk-foap-test-key-a".utf8)]
        XCTAssertEqual(set.count, 1)
    }
}
