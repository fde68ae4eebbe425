import Foundation
import XCTest

@testable import FOAPConfig

/// The frozen snapshot: lookups, and the encoding that hands it to worker processes.
final class ConfigSnapshotTests: XCTestCase {
    private func sampleSnapshot() -> ConfigSnapshot {
        let provider = ProviderConfig(name: "hf", file: "a.json", credential: .key("sk-secret"))
        let other = ProviderConfig(name: "local", file: "b.json", credential: .missing(variable: "LOCAL_KEY"))
        return ConfigSnapshot(
            models: [
                ModelConfig(
                    id: "hf/meta-llama/Llama-3.1-8B",
                    key: "meta-llama/Llama-3.1-8B",
                    provider: provider,
                    endpoints: [
                        EndpointConfig(
                            path: "v1/chat/completions",
                            targetBaseURL: "http://127.0.0.1:8000/openai",
                            targetModelName: "meta-llama/Llama-3.1-8B",
                            requestTimeout: 0.1,
                            healthTimeout: 2.5
                        )
                    ],
                    location: ConfigLocation(file: "a.json", keyPath: "hf.models.meta-llama/Llama-3.1-8B")
                ),
                ModelConfig(
                    id: "tiny",
                    key: "tiny",
                    provider: other,
                    endpoints: [
                        EndpointConfig(path: "v1/embeddings", targetBaseURL: "http://[::1]:9", targetModelName: "t"),
                        EndpointConfig(path: "v1/completions", targetBaseURL: "http://[::1]:9", targetModelName: "t"),
                    ],
                    location: ConfigLocation(file: "b.json", keyPath: "local.models.tiny")
                ),
                ModelConfig(
                    id: "none",
                    key: "none",
                    provider: ProviderConfig(name: "open", file: "b.json", credential: .none),
                    endpoints: [EndpointConfig(path: "v1/responses", targetBaseURL: "http://h", targetModelName: "n")],
                    location: ConfigLocation(file: "b.json", keyPath: "open.models.none")
                ),
            ],
            warnings: [
                ConfigWarning(file: "b.json", keyPath: "local.api_key_variable", message: "w"),
                ConfigWarning(file: "/d", message: "x"),
            ],
            sourceDigest: String(repeating: "ab", count: 32),
            loadedAt: 1_700_000_123
        )
    }

    func testLookupByID() {
        let snapshot = self.sampleSnapshot()
        XCTAssertEqual(snapshot.model("tiny")?.location.description, "b.json: local.models.tiny")
        XCTAssertEqual(snapshot.model("hf/meta-llama/Llama-3.1-8B")?.key, "meta-llama/Llama-3.1-8B")
        XCTAssertNil(snapshot.model("Tiny"))
        XCTAssertNil(snapshot.model("meta-llama/Llama-3.1-8B"))
    }

    func testEncodedRoundTripIsEqualAndIndexed() throws {
        let snapshot = self.sampleSnapshot()
        let decoded = try ConfigSnapshot(encoded: snapshot.encoded())
        XCTAssertEqual(decoded, snapshot)
        XCTAssertEqual(decoded.model("tiny")?.endpoints.map(\.path), ["v1/embeddings", "v1/completions"])
        XCTAssertEqual(decoded.model("hf/meta-llama/Llama-3.1-8B")?.provider.credential, .key("sk-secret"))
        XCTAssertEqual(decoded.model("hf/meta-llama/Llama-3.1-8B")?.endpoints.first?.requestTimeout, 0.1)
        XCTAssertEqual(decoded.model("none")?.provider.credential, Credential.none)
        XCTAssertEqual(decoded.model("tiny")?.provider.credential, .missing(variable: "LOCAL_KEY"))
        XCTAssertEqual(decoded.encoded(), snapshot.encoded())
    }

    /// A worker may run a newer binary than its master (a reload after an upgrade): models and endpoints, whose
    /// fields now sit behind one reference, still encode under the names their fields always had.
    func testModelsAndEndpointsEncodeUnderTheirFieldNames() throws {
        let snapshot = self.sampleSnapshot()
        let object = try JSONSerialization.jsonObject(with: Data(snapshot.encoded())) as? [String: Any]
        let models = try XCTUnwrap(object?["models"] as? [[String: Any]])
        XCTAssertEqual(Set(models[0].keys), ["id", "key", "provider", "endpoints", "location"])
        let endpoint = try XCTUnwrap((models[0]["endpoints"] as? [[String: Any]])?.first)
        XCTAssertTrue(
            Set(endpoint.keys).isSuperset(of: [
                "path", "upstreams", "requestTimeout", "healthTimeout", "policy", "injectStreamUsage", "defaultForRoute",
            ]), "\(endpoint.keys.sorted())")
        XCTAssertTrue(Set(endpoint.keys).isSubset(of: [
            "path", "upstreams", "requestTimeout", "healthTimeout", "policy", "injectStreamUsage", "defaultForRoute",
            "targetPath",
        ]))
    }

    func testLoadedSnapshotRoundTrips() throws {
        let snapshot = try self.loadSnapshot([
            "p.json": providerFile(endpoints: #"{"path": "v1/embeddings", "target_model_name": "t", "x": 1}"#)
        ])
        XCTAssertEqual(try ConfigSnapshot(encoded: snapshot.encoded()), snapshot)
    }

    func testDecodingRejectsGarbageAndDuplicateIDs() throws {
        XCTAssertThrowsError(try ConfigSnapshot(encoded: Array("not json".utf8)))
        XCTAssertThrowsError(try ConfigSnapshot(encoded: Array(#"{"models": []}"#.utf8)))
        let snapshot = self.sampleSnapshot()
        let duplicated = String(decoding: snapshot.encoded(), as: UTF8.self)
            .replacingOccurrences(of: #""id":"tiny""#, with: #""id":"none""#)
        XCTAssertThrowsError(try ConfigSnapshot(encoded: Array(duplicated.utf8)))
    }

    func testEqualityIgnoresNothingButTheIndex() {
        let snapshot = self.sampleSnapshot()
        XCTAssertEqual(snapshot, self.sampleSnapshot())
        let later = ConfigSnapshot(
            models: snapshot.models,
            warnings: snapshot.warnings,
            sourceDigest: snapshot.sourceDigest,
            loadedAt: 1
        )
        XCTAssertNotEqual(snapshot, later)
    }

    func testUpstreamURLJoinsBaseAndPath() {
        let endpoint = EndpointConfig(
            path: "v1/images/data",
            targetBaseURL: "http://10.0.0.5:8080/openai",
            targetModelName: "x"
        )
        XCTAssertEqual(endpoint.upstreamURL, "http://10.0.0.5:8080/openai/v1/images/data")
        XCTAssertEqual(endpoint.requestTimeout, 60)
        XCTAssertEqual(endpoint.healthTimeout, 60)
    }
}
