import XCTest

@testable import FOAPConfig

/// Every validation error and warning, with the exact `file: key.path: message` an operator sees.
final class ConfigValidationTests: XCTestCase {
    private let embeddings = #"{"path": "v1/embeddings", "target_model_name": "t"}"#

    private func errors(_ contents: String) throws -> [String] {
        try self.loadErrors(["bad.json": contents])
    }

    private func snapshot(_ contents: String) throws -> ConfigSnapshot {
        try self.loadSnapshot(["ok.json": contents])
    }

    // MARK: - Structure

    func testTopLevelMustBeAnObject() throws {
        XCTAssertEqual(
            try self.errors("[]"),
            ["bad.json:1:1: the top level must be an object of providers, found an array"]
        )
        XCTAssertEqual(
            try self.errors(" \"x\""),
            ["bad.json:1:2: the top level must be an object of providers, found a string"]
        )
    }

    func testEmptyFileObjectIsAWarning() throws {
        let snapshot = try self.snapshot("{}")
        XCTAssertEqual(snapshot.warnings.map(\.description), ["ok.json: the file defines no providers"])
    }

    func testProviderMustBeAnObjectWithModels() throws {
        XCTAssertEqual(try self.errors(#"{"p": 3}"#), ["bad.json: p: expected an object, found a number"])
        XCTAssertEqual(try self.errors(#"{"p": {"target_base_url": "http://h"}}"#), ["bad.json: p.models: missing"])
        XCTAssertEqual(
            try self.errors(#"{"p": {"models": []}}"#),
            ["bad.json: p.models: expected an object, found an array"]
        )
        XCTAssertEqual(
            try self.snapshot(#"{"p": {"models": {}}}"#).warnings.map(\.description),
            ["ok.json: p.models: the provider defines no models"]
        )
    }

    func testModelNeedsANonEmptyEndpointsArray() throws {
        XCTAssertEqual(
            try self.errors(#"{"p": {"models": {"m": null}}}"#),
            ["bad.json: p.models.m: expected an object, found null"]
        )
        XCTAssertEqual(try self.errors(#"{"p": {"models": {"m": {}}}}"#), ["bad.json: p.models.m.endpoints: missing"])
        XCTAssertEqual(
            try self.errors(#"{"p": {"models": {"m": {"endpoints": {}}}}}"#),
            ["bad.json: p.models.m.endpoints: expected an array of endpoints, found an object"]
        )
        XCTAssertEqual(
            try self.errors(#"{"p": {"models": {"m": {"endpoints": []}}}}"#),
            ["bad.json: p.models.m.endpoints: a model needs at least one endpoint"]
        )
    }

    func testEndpointMustBeAnObject() throws {
        XCTAssertEqual(
            try self.errors(providerFile(endpoints: #""v1/embeddings""#)),
            ["bad.json: p.models.m.endpoints[0]: expected an object, found a string"]
        )
    }

    func testMissingTargetModelNameNamesTheKeyPath() throws {
        let errors = try self.errors(providerFile(endpoints: self.embeddings + #", {"path": "v1/completions"}"#))
        XCTAssertEqual(errors, ["bad.json: p.models.m.endpoints[1].target_model_name: missing"])
        XCTAssertEqual(
            try self.loadErrors(["bad.json": providerFile(endpoints: #"{"path": "v1/completions"}"#)]).count,
            1
        )
    }

    func testMissingOrEmptyOrMistypedEndpointFields() throws {
        XCTAssertEqual(
            try self.errors(providerFile(endpoints: #"{"target_model_name": "t"}"#)),
            ["bad.json: p.models.m.endpoints[0].path: missing"]
        )
        XCTAssertEqual(
            try self.errors(providerFile(endpoints: #"{"path": "v1/embeddings", "target_model_name": ""}"#)),
            ["bad.json: p.models.m.endpoints[0].target_model_name: must not be empty"]
        )
        XCTAssertEqual(
            try self.errors(providerFile(endpoints: #"{"path": 1, "target_model_name": ["t"]}"#)),
            [
                "bad.json: p.models.m.endpoints[0].path: expected a string, found a number",
                "bad.json: p.models.m.endpoints[0].target_model_name: expected a string, found an array",
            ]
        )
    }

    func testErrorsCarryLineAndColumnOfTheValue() throws {
        let directory = try self.makeConfigDirectory([
            "bad.json": providerFile(endpoints: #"{"path": 1, "target_model_name": "t"}"#)
        ])
        let error = try XCTUnwrap(try self.load(directory).failureValue?.errors.first)
        XCTAssertEqual(error.keyPath, "p.models.m.endpoints[0].path")
        XCTAssertEqual(error.line, 5)
        XCTAssertEqual(error.column, 47)
    }

    // MARK: - Paths

    func testUnsupportedPathIsAnError() throws {
        let errors = try self.errors(
            providerFile(endpoints: #"{"path": "v1/chat/completions/", "target_model_name": "t"}"#)
        )
        XCTAssertEqual(
            errors,
            [
                "bad.json: p.models.m.endpoints[0].path: unsupported path; expected one of: "
                    + ConfigLoader.supportedPaths.joined(separator: ", ")
            ]
        )
    }

    func testAllTwentySevenSupportedPathsLoad() throws {
        XCTAssertEqual(ConfigLoader.supportedPaths.count, 32)
        let endpoints = ConfigLoader.supportedPaths.map { #"{"path": "\#($0)", "target_model_name": "t"}"# }
        let snapshot = try self.snapshot(providerFile(endpoints: endpoints.joined(separator: ",")))
        XCTAssertEqual(snapshot.model("m")?.endpoints.map(\.path), ConfigLoader.supportedPaths)
    }

    func testLeadingSlashIsTrimmedWithAWarning() throws {
        let snapshot = try self.snapshot(
            providerFile(endpoints: #"{"path": "/v1/embeddings", "target_model_name": "t"}"#)
        )
        XCTAssertEqual(
            snapshot.model("m")?.endpoint(for: "v1/embeddings")?.upstreamURL,
            "http://127.0.0.1:9/v1/embeddings"
        )
        XCTAssertEqual(
            snapshot.warnings.map(\.description),
            ["ok.json: p.models.m.endpoints[0].path: leading '/' ignored; write paths like v1/chat/completions"]
        )
    }

    func testSamePathTwiceInOneModelIsAnError() throws {
        let errors = try self.errors(
            providerFile(endpoints: [self.embeddings, self.embeddings].joined(separator: ","))
        )
        XCTAssertEqual(
            errors,
            ["bad.json: p.models.m.endpoints[1].path: duplicate path, already served by endpoints[0]"]
        )
        let slashed = #"{"path": "/v1/embeddings", "target_model_name": "u"}"#
        XCTAssertEqual(try self.errors(providerFile(endpoints: self.embeddings + "," + slashed)).count, 1)
    }

    // MARK: - Base URLs

    func testBaseURLIsRequiredAtOneLevel() throws {
        let errors = try self.errors(#"{"p": {"models": {"m": {"endpoints": [\#(self.embeddings)]}}}}"#)
        XCTAssertEqual(
            errors,
            ["bad.json: p.models.m.endpoints[0].target_base_url: missing (set it or upstreams here or on the provider)"]
        )
    }

    func testEndpointBaseURLWinsAndTrailingSlashesAreTrimmed() throws {
        let snapshot = try self.snapshot(
            providerFile(
                endpoints: [
                    self.embeddings,
                    #"{"path": "v1/completions", "target_model_name": "t", "#
                        + #""target_base_url": "https://10.0.0.5:8080/openai//"}"#,
                ].joined(separator: ",")
            )
        )
        let model = try XCTUnwrap(snapshot.model("m"))
        XCTAssertEqual(model.endpoints.map(\.targetBaseURL), ["http://127.0.0.1:9", "https://10.0.0.5:8080/openai"])
        XCTAssertEqual(
            model.endpoint(for: "v1/completions")?.upstreamURL,
            "https://10.0.0.5:8080/openai/v1/completions"
        )
    }

    func testInvalidBaseURLsAreRejectedWithoutEchoingThem() throws {
        let cases: [(String, String)] = [
            ("ftp://secret-host", "must be an http:// or https:// URL"),
            ("secret-host:8080", "must be an http:// or https:// URL"),
            ("https://", "must be an http(s) URL with a host, e.g. https://api.openai.com"),
            ("http://secret host", "must be an http(s) URL with a host, e.g. https://api.openai.com"),
            ("http://secret-host/v1?key=abc", "must not contain a query or fragment"),
            ("http://secret-host/#frag", "must not contain a query or fragment"),
        ]
        for (url, message) in cases {
            let endpoint = #"{"path": "v1/embeddings", "target_model_name": "t", "target_base_url": "\#(url)"}"#
            let errors = try self.errors(providerFile(endpoints: endpoint))
            XCTAssertEqual(errors, ["bad.json: p.models.m.endpoints[0].target_base_url: \(message)"], url)
        }
    }

    func testInvalidProviderBaseURLIsReportedOnce() throws {
        let errors = try self.errors(
            #"""
            {"p": {"target_base_url": 42, "models": {"m": {"endpoints": [\#(self.embeddings), \#(self.embeddings
                .replacingOccurrences(of: "embeddings", with: "completions"))]}}}}
            """#
        )
        XCTAssertEqual(errors, ["bad.json: p.target_base_url: expected a string, found a number"])
    }

    // MARK: - Timeouts

    func testTimeoutsInheritEndpointThenProviderThenSixty() throws {
        let snapshot = try self.snapshot(
            providerFile(
                endpoints: [
                    self.embeddings,
                    #"{"path": "v1/completions", "target_model_name": "t", "#
                        + #""request_timeout": 2.5, "health_timeout": 3}"#,
                ].joined(separator: ","),
                providerExtras: #""request_timeout": 120,"#
            )
        )
        let endpoints = try XCTUnwrap(snapshot.model("m")?.endpoints)
        XCTAssertEqual(endpoints.map(\.requestTimeout), [120, 2.5])
        XCTAssertEqual(endpoints.map(\.healthTimeout), [60, 3])
    }

    func testNonPositiveOrNonNumericTimeoutsAreErrors() throws {
        let cases: [(String, String)] = [
            ("0", "must be a number of seconds greater than 0 and at most 31536000"),
            ("-1", "must be a number of seconds greater than 0 and at most 31536000"),
            ("1e10", "must be a number of seconds greater than 0 and at most 31536000"),
            (#""120""#, "expected a number of seconds, found a string"),
            ("true", "expected a number of seconds, found a boolean"),
        ]
        for (value, message) in cases {
            let endpoint = #"{"path": "v1/embeddings", "target_model_name": "t", "health_timeout": \#(value)}"#
            XCTAssertEqual(
                try self.errors(providerFile(endpoints: endpoint)),
                ["bad.json: p.models.m.endpoints[0].health_timeout: \(message)"],
                value
            )
            XCTAssertEqual(
                try self.errors(
                    providerFile(endpoints: self.embeddings, providerExtras: #""request_timeout": \#(value),"#)
                ),
                ["bad.json: p.request_timeout: \(message)"],
                value
            )
        }
    }

    // MARK: - Other provider keys

    func testMistypedProviderKeys() throws {
        let extras = #""prefix": 1, "api_key_variable": false, "api_key_file": "","#
        XCTAssertEqual(
            try self.errors(providerFile(endpoints: self.embeddings, providerExtras: extras)),
            [
                "bad.json: p.api_key_variable: expected a string, found a boolean",
                "bad.json: p.api_key_file: must not be empty",
                "bad.json: p.prefix: expected a string, found a number",
            ]
        )
    }

    func testEmptyModelIDIsAnError() throws {
        let file = providerFile(endpoints: self.embeddings).replacingOccurrences(of: "\"m\"", with: "\"\"")
        XCTAssertEqual(
            try self.errors(file),
            ["bad.json: p.models.: the model id (prefix + model key) must not be empty"]
        )
    }

    func testUnknownKeysAreWarningsAtEveryLevel() throws {
        let snapshot = try self.snapshot(
            """
            {"p": {"target_base_url": "http://127.0.0.1:9", "api_key": "sk-secret", "models": {
              "m": {"description": "x", "endpoints": [
                {"path": "v1/embeddings", "target_model_name": "t", "timeout": 3}
              ]}
            }}}
            """
        )
        XCTAssertEqual(snapshot.models.map(\.id), ["m"])
        XCTAssertEqual(
            snapshot.warnings.map(\.description),
            [
                "ok.json: p.api_key: unknown key, ignored",
                "ok.json: p.models.m.description: unknown key, ignored",
                "ok.json: p.models.m.endpoints[0].timeout: unknown key, ignored",
            ]
        )
        XCTAssertFalse(snapshot.warnings.map(\.description).joined().contains("sk-secret"))
    }

    func testErrorsNeverContainValues() throws {
        let secret = "sk-live-0123456789"
        let errors = try self.errors(
            """
            {"p": {"prefix": ["\(secret)"], "target_base_url": "\(secret)", "request_timeout": "\(secret)",
              "models": {"m": {"endpoints": [{"path": "\(secret)", "target_model_name": {"k": "\(secret)"}}]}}}}
            """
        )
        XCTAssertEqual(errors.count, 5)
        for error in errors {
            XCTAssertFalse(error.contains(secret), error)
        }
    }
}

/// The 2026 routes' settings: `target_path`, `default_for_route`, `auth_header`.
extension ConfigValidationTests {
    private func provider(_ endpoints: String, extra: String = "") -> String {
        #"{"p": {"target_base_url": "http://h"\#(extra), "models": {"m": {"endpoints": [\#(endpoints)]}, "n": {"endpoints": [{"path": "tokenize", "target_model_name": "t", "default_for_route": true}]}}}}"#
    }

    func testTargetPathDefaultForRouteAndAuthHeaderAreRead() throws {
        let snapshot = try self.loadSnapshot([
            "ok.json": self.provider(
                #"{"path": "v1/rerank", "target_model_name": "t", "target_path": "/reranking"}"#,
                extra: #", "auth_header": "x-api-key""#)
        ])
        let rerank = try XCTUnwrap(snapshot.model("m")?.endpoint(for: "v1/rerank"))
        XCTAssertEqual(rerank.targetPath, "reranking", "a leading / is trimmed")
        XCTAssertEqual(rerank.upstreamURL, "http://h/reranking")
        XCTAssertEqual(snapshot.model("m")?.provider.authHeader, .xAPIKey)
        XCTAssertEqual(snapshot.defaultModel(forRoute: "tokenize")?.id, "n")
        XCTAssertNil(snapshot.defaultModel(forRoute: "v1/rerank"))
    }

    func testBadTargetPathsAuthHeadersAndFlagsAreErrors() throws {
        for bad in ["../admin", "a//b", "http://evil/x", "a?b=1", ""] {
            let errors = try self.loadErrors([
                "bad.json": self.provider(#"{"path": "v1/rerank", "target_model_name": "t", "target_path": "\#(bad)"}"#)
            ])
            XCTAssertEqual(errors.count, 1, bad)
            XCTAssertTrue(errors.first?.contains("p.models.m.endpoints[0].target_path") ?? false, "\(errors)")
        }
        XCTAssertEqual(
            try self.loadErrors([
                "bad.json": self.provider(#"{"path": "v1/rerank", "target_model_name": "t"}"#, extra: #", "auth_header": "basic""#)
            ]),
            ["bad.json: p.auth_header: expected authorization or x-api-key"])
        XCTAssertEqual(
            try self.loadErrors([
                "bad.json": self.provider(#"{"path": "v1/score", "target_model_name": "t", "default_for_route": "yes"}"#)
            ]),
            ["bad.json: p.models.m.endpoints[0].default_for_route: expected true or false, found a string"])
    }

    func testTwoDefaultsForOneRouteAreAnError() throws {
        let errors = try self.loadErrors([
            "bad.json": self.provider(#"{"path": "tokenize", "target_model_name": "t", "default_for_route": true}"#)
        ])
        XCTAssertEqual(errors.count, 1, "\(errors)")
        XCTAssertTrue(errors.first?.contains("default_for_route: both 'm' and 'n' claim tokenize") ?? false, "\(errors)")
    }
}
