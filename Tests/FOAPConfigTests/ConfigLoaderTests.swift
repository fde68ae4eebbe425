import Foundation
import XCTest

@testable import FOAPConfig

final class ConfigLoaderTests: XCTestCase {
    /// The seed file the earlier proxy shipped, copied next to this test so it does not depend on /work/shared.
    private func seedConfig() throws -> String {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Fixtures/openAI-example.json")
        return try String(contentsOf: url, encoding: .utf8)
    }

    func testSeedConfigLoadsUnchanged() throws {
        let snapshot = try self.loadSnapshot(
            ["openAI-example.json": try self.seedConfig()],
            environment: ["OPENAI_API_TOKEN": "sk-test"]
        )
        XCTAssertEqual(
            snapshot.models.map(\.id),
            [
                "gpt-4o", "gpt-4o-mini", "whisper-1", "dall-e-2", "dall-e-3", "tts-1", "tts-1-hd",
                "omni-moderation-latest", "text-moderation-latest",
            ]
        )
        XCTAssertEqual(snapshot.warnings, [])
        XCTAssertEqual(snapshot.loadedAt, 1_700_000_000)
        XCTAssertEqual(snapshot.sourceDigest.count, 64)

        let gpt = try XCTUnwrap(snapshot.model("gpt-4o"))
        XCTAssertEqual(
            gpt.provider,
            ProviderConfig(name: "openAI", file: "openAI-example.json", credential: .key("sk-test"))
        )
        XCTAssertEqual(gpt.location, ConfigLocation(file: "openAI-example.json", keyPath: "openAI.models.gpt-4o"))
        XCTAssertEqual(
            gpt.endpoint(for: "v1/chat/completions"),
            EndpointConfig(
                path: "v1/chat/completions",
                targetBaseURL: "https://api.openai.com",
                targetModelName: "gpt-4o",
                requestTimeout: 120,
                healthTimeout: 60
            )
        )
        XCTAssertNil(gpt.endpoint(for: "v1/embeddings"))

        let whisper = try XCTUnwrap(snapshot.model("whisper-1"))
        XCTAssertEqual(whisper.endpoints.map(\.path), ["v1/audio/transcriptions", "v1/audio/translations"])
        XCTAssertEqual(whisper.endpoints.map(\.requestTimeout), [60, 60])
        XCTAssertEqual(
            whisper.endpoint(for: "v1/audio/translations")?.upstreamURL,
            "https://api.openai.com/v1/audio/translations"
        )
        XCTAssertEqual(snapshot.model("dall-e-2")?.endpoints.map(\.requestTimeout), [300, 300, 300])
    }

    func testSeedConfigWithoutKeyLoadsWithWarning() throws {
        let snapshot = try self.loadSnapshot(["openAI-example.json": try self.seedConfig()])
        XCTAssertEqual(snapshot.models.count, 9)
        XCTAssertEqual(snapshot.model("tts-1")?.provider.credential, .missing(variable: "OPENAI_API_TOKEN"))
        XCTAssertEqual(snapshot.warnings.count, 1)
        XCTAssertEqual(
            snapshot.warnings.first?.description,
            "openAI-example.json: openAI.api_key_variable: no upstream key found for OPENAI_API_TOKEN "
                + "(searched environment); requests for this provider will fail"
        )
    }

    func testFilesLoadInSortedNameOrderAndOthersAreSkipped() throws {
        let model = { (id: String) in
            providerFile(endpoints: #"{"path": "v1/embeddings", "target_model_name": "t"}"#)
                .replacingOccurrences(of: "\"m\"", with: "\"\(id)\"")
        }
        let directory = try self.makeConfigDirectory([
            "b.json": model("b"),
            "a.json": model("a"),
            "B.json": model("B"),
            "10.json": model("10"),
            ".hidden.json": model("hidden"),
            "notes.txt": model("txt"),
            "a.json.bak": model("bak"),
        ])
        let snapshot = try self.load(directory).get()
        XCTAssertEqual(snapshot.models.map(\.id), ["10", "B", "a", "b"])
    }

    func testModelsKeepTheirOrderInTheFile() throws {
        let snapshot = try self.loadSnapshot([
            "x.json": """
            {
              "second-provider": { "target_base_url": "http://127.0.0.1:9", "models": {
                "zeta": { "endpoints": [{ "path": "v1/completions", "target_model_name": "z" }] },
                "alpha": { "endpoints": [{ "path": "v1/completions", "target_model_name": "a" }] },
                "mu": { "endpoints": [{ "path": "v1/completions", "target_model_name": "m" }] }
              } },
              "first-provider": { "target_base_url": "http://127.0.0.1:9", "models": {
                "beta": { "endpoints": [
                  { "path": "v1/responses", "target_model_name": "b" },
                  { "path": "v1/chat/completions", "target_model_name": "b" }
                ] }
              } }
            }
            """
        ])
        XCTAssertEqual(snapshot.models.map(\.id), ["zeta", "alpha", "mu", "beta"])
        XCTAssertEqual(snapshot.model("beta")?.endpoints.map(\.path), ["v1/responses", "v1/chat/completions"])
    }

    func testModelIDsMayContainSlashes() throws {
        let snapshot = try self.loadSnapshot([
            "hf.json": providerFile(
                endpoints: #"{"path": "v1/chat/completions", "target_model_name": "meta-llama/Llama-3.1-8B"}"#,
                providerExtras: #""prefix": "hf/","#
            ).replacingOccurrences(of: "\"m\"", with: "\"meta-llama/Llama-3.1-8B\"")
        ])
        let model = try XCTUnwrap(snapshot.model("hf/meta-llama/Llama-3.1-8B"))
        XCTAssertEqual(model.key, "meta-llama/Llama-3.1-8B")
        XCTAssertEqual(model.location.keyPath, "p.models.meta-llama/Llama-3.1-8B")
        XCTAssertNil(snapshot.model("meta-llama/Llama-3.1-8B"))
    }

    func testKubernetesStyleSymlinksAreFollowed() throws {
        let directory = try self.makeConfigDirectory()
        try directory.write(
            "..2024_01_01/models.json",
            providerFile(endpoints: #"{"path": "v1/embeddings", "target_model_name": "t"}"#)
        )
        try directory.symlink("..data", to: "..2024_01_01")
        try directory.symlink("models.json", to: "..data/models.json")
        let snapshot = try self.load(directory).get()
        XCTAssertEqual(snapshot.models.map(\.id), ["m"])
        XCTAssertEqual(snapshot.models.first?.provider.file, "models.json")
    }

    func testDanglingSymlinkIsAnError() throws {
        let directory = try self.makeConfigDirectory()
        try directory.symlink("gone.json", to: "..data/gone.json")
        XCTAssertEqual(
            try self.load(directory).failureValue?.errors.map(\.description),
            ["gone.json: cannot read file: no such file (a dangling symlink?)"]
        )
    }

    /// `docker run -v "$PWD/models.json:/configs/models.json"` with no such host file creates a directory there:
    /// skipping it served the config without that file's models, and a reload to it dropped them silently.
    func testDirectoryNamedLikeAConfigFileIsAnError() throws {
        let directory = try self.makeConfigDirectory([
            "a.json": providerFile(endpoints: #"{"path": "v1/embeddings", "target_model_name": "t"}"#),
            "..hidden/inner.txt": "a hidden directory is never looked at",
        ])
        try FileManager.default.createDirectory(
            atPath: directory.path + "/models.json", withIntermediateDirectories: false
        )
        try directory.symlink("linked.json", to: "..hidden")
        XCTAssertEqual(
            try self.load(directory).failureValue?.errors.map(\.description),
            [
                "linked.json: is a directory, not a config file (a volume mount of a host file that does not exist?)",
                "models.json: is a directory, not a config file (a volume mount of a host file that does not exist?)",
            ]
        )
    }

    /// A runaway file (a dump saved as `.json`) is refused by its size, before the master spends its time parsing it.
    func testAFileOverTheSizeLimitIsAnErrorBeforeItIsRead() throws {
        let directory = try self.makeConfigDirectory([
            "a.json": providerFile(endpoints: #"{"path": "v1/embeddings", "target_model_name": "t"}"#)
        ])
        let path = directory.path + "/huge.json"
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: nil))
        let handle = try XCTUnwrap(FileHandle(forWritingAtPath: path))
        try handle.truncate(atOffset: UInt64(ConfigDirectory.maximumFileBytes + 1))
        try handle.close()
        XCTAssertEqual(
            try self.load(directory).failureValue?.errors.map(\.description),
            ["huge.json: is \(ConfigDirectory.maximumFileBytes + 1) bytes, over the 8 MiB a config file may have"]
        )
    }

    /// `a.JSON` is not read (names are matched as `ls *.json` would), but it is named, not passed over in silence.
    func testAFileEndingInJSONInOtherCaseIsNamedInAWarning() throws {
        let directory = try self.makeConfigDirectory([
            "a.json": providerFile(endpoints: #"{"path": "v1/embeddings", "target_model_name": "t"}"#),
            "b.JSON": "not read",
            "c.json~": "an editor's backup: not named",
        ])
        let snapshot = try self.load(directory).get()
        XCTAssertEqual(
            snapshot.warnings.map(\.description),
            ["b.JSON: not read: only names ending in '.json' (lower case) are config files"])
    }

    func testEmptyDirectoryGivesEmptySnapshotWithWarning() throws {
        let directory = try self.makeConfigDirectory(["readme.txt": "nothing here"])
        let snapshot = try self.load(directory).get()
        XCTAssertEqual(snapshot.models, [])
        XCTAssertEqual(
            snapshot.warnings,
            [ConfigWarning(file: directory.path, message: "no *.json files in the config directory")]
        )
    }

    func testMissingDirectoryFails() throws {
        let loader = ConfigLoader(directory: "/nonexistent/foap-\(UUID().uuidString)", environment: [:])
        XCTAssertThrowsError(try loader.load()) { error in
            let loadError = error as? ConfigLoadError
            XCTAssertEqual(loadError?.errors.count, 1)
            XCTAssertEqual(loadError?.errors.first?.message, "config directory does not exist")
        }
    }

    func testDirectoryThatIsAFileFails() throws {
        let directory = try self.makeConfigDirectory()
        let file = try directory.write("plain.json", "{}")
        XCTAssertThrowsError(try ConfigLoader(directory: file, environment: [:]).load()) { error in
            XCTAssertEqual((error as? ConfigLoadError)?.errors.first?.message, "config directory is not a directory")
        }
    }

    func testModelDefinedInTwoFilesIsOnePoolWithEachProvidersKey() throws {
        let directory = try self.makeConfigDirectory()
        try directory.write("a.json", """
            { "openai": { "api_key_variable": "OPENAI_KEY", "target_base_url": "http://127.0.0.1:9", "strategy": "ordered",
                          "models": { "gpt": { "endpoints": [{ "path": "v1/chat/completions", "target_model_name": "gpt-4o" }] } } } }
            """)
        try directory.write("b.json", """
            { "azure": { "api_key_variable": "AZURE_KEY", "target_base_url": "http://127.0.0.1:10", "auth_header": "x-api-key",
                         "models": { "gpt": { "endpoints": [
                             { "path": "v1/chat/completions", "target_model_name": "gpt4o-deployment" },
                             { "path": "v1/embeddings", "target_model_name": "embed" } ] } } } }
            """)
        let environment = ["OPENAI_KEY": "sk-openai", "AZURE_KEY": "sk-azure"]
        let snapshot = try ConfigLoader(directory: directory.path, environment: environment).load()
        XCTAssertEqual(snapshot.models.map(\.id), ["gpt"])
        let model = try XCTUnwrap(snapshot.model("gpt"))
        let chat = try XCTUnwrap(model.endpoint(for: "v1/chat/completions"))
        XCTAssertEqual(chat.upstreams.map(\.baseURL), ["http://127.0.0.1:9", "http://127.0.0.1:10"])
        XCTAssertEqual(chat.upstreams.map(\.targetModelName), ["gpt-4o", "gpt4o-deployment"])
        XCTAssertEqual(chat.upstreams.map { model.credential(of: $0) }, [.key("sk-openai"), .key("sk-azure")])
        XCTAssertEqual(chat.upstreams.map { model.authHeader(of: $0) }, [.authorization, .xAPIKey], "each its provider's way")
        XCTAssertEqual(chat.upstreams[1].provider, "azure")
        XCTAssertEqual(chat.policy.strategy, .ordered, "the first definition's pool settings govern")
        XCTAssertEqual(chat.policy.maximumAttempts(upstreamCount: chat.upstreams.count), 2)
        let embeddings = try XCTUnwrap(model.endpoint(for: "v1/embeddings"))
        XCTAssertEqual(embeddings.upstreams.map { model.credential(of: $0) }, [.key("sk-azure")])
        XCTAssertEqual(snapshot.warnings.map(\.description), [], "a pool across files is no mistake")
    }

    /// `cp a.json a-old.json` makes one pool with every upstream twice: served, but said.
    func testACopiedFileJoinsThePoolWithAWarning() throws {
        let directory = try self.makeConfigDirectory()
        let file = providerFile(endpoints: #"{"path": "v1/embeddings", "target_model_name": "t"}"#)
        try directory.write("a.json", file)
        try directory.write("a-old.json", file)
        let snapshot = try self.load(directory).get()
        XCTAssertEqual(snapshot.models.first?.endpoints.first?.upstreams.count, 2)
        XCTAssertEqual(snapshot.warnings.count, 1)
        XCTAssertTrue(
            snapshot.warnings.first?.description.contains("that upstream is in its pool twice (a copied file?)") ?? false,
            snapshot.warnings.map(\.description).joined())
        XCTAssertTrue(snapshot.warnings.first?.description.hasPrefix("a.json: ") ?? false, "named where it joins")
    }

    func testDuplicateModelIDAcrossProvidersAfterPrefixing() throws {
        let errors = try self.loadErrors([
            "a.json": """
            {
              "one": { "prefix": "ab", "target_base_url": "http://127.0.0.1:9",
                       "models": { "c": { "endpoints": [{ "path": "v1/completions", "target_model_name": "c" }] } } },
              "two": { "prefix": "a", "target_base_url": "http://127.0.0.1:9",
                       "models": { "bc": { "endpoints": [{ "path": "v1/completions", "target_model_name": "c" }] } } }
            }
            """
        ])
        XCTAssertEqual(errors, [#"a.json: two.models.bc: model id "abc" is already defined at a.json: one.models.c"#])
    }

    func testSyntaxErrorReportsFileLineAndColumn() throws {
        let errors = try self.loadErrors(["bad.json": "{\n  \"p\": {\n    \"models\": {,\n  }\n}\n"])
        XCTAssertEqual(errors, ["bad.json:3:16: unexpected ',', expected a string key"])
    }

    func testEveryErrorOfEveryFileIsReported() throws {
        let errors = try self.loadErrors([
            "a.json": "[1, 2",
            "b.json": providerFile(endpoints: #"{"path": "v1/nope"}"#),
            "c.json": providerFile(endpoints: #"{"path": "v1/embeddings", "target_model_name": "t"}"#),
        ])
        XCTAssertEqual(errors.count, 3)
        XCTAssertTrue(errors[0].hasPrefix("a.json:1:6: "), errors[0])
        XCTAssertTrue(errors[1].hasPrefix("b.json: p.models.m.endpoints[0].path: unsupported path"), errors[1])
        XCTAssertEqual(errors[2], "b.json: p.models.m.endpoints[0].target_model_name: missing")
    }

    func testLoadErrorDescriptionHasOneErrorPerLine() {
        let error = ConfigLoadError(errors: [
            ConfigError(file: "a.json", line: 1, column: 2, message: "x"),
            ConfigError(file: "b.json", keyPath: "p.models", message: "y"),
            ConfigError(file: "/etc/foap", message: "z"),
        ])
        XCTAssertEqual(error.description, "a.json:1:2: x\nb.json: p.models: y\n/etc/foap: z")
    }

    func testSourceDigestIsStableAndTracksNamesAndBytes() throws {
        let contents = providerFile(endpoints: #"{"path": "v1/embeddings", "target_model_name": "t"}"#)
        let directory = try self.makeConfigDirectory(["a.json": contents])
        let first = try self.load(directory).get().sourceDigest
        XCTAssertEqual(try self.load(directory).get().sourceDigest, first)

        try directory.write("a.json", contents + "\n")
        let changedBytes = try self.load(directory).get().sourceDigest
        XCTAssertNotEqual(changedBytes, first)

        try FileManager.default.moveItem(atPath: directory.path + "/a.json", toPath: directory.path + "/b.json")
        let renamed = try self.load(directory).get().sourceDigest
        XCTAssertNotEqual(renamed, changedBytes)

        try directory.write("ignored.txt", "not config")
        XCTAssertEqual(try self.load(directory).get().sourceDigest, renamed)
    }
}

extension Result {
    /// The error of a failed result, nil on success.
    var failureValue: Failure? {
        if case .failure(let error) = self {
            return error
        }
        return nil
    }
}
