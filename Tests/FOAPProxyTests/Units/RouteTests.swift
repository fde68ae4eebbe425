import FOAPHTTP1
import NIOHTTP1
import XCTest

@testable import FOAPProxy

/// `Route.resolve`: method and path alone decide what a request is, before any body byte is read.
final class RouteTests: XCTestCase {
    /// The route and traits found together are the route `resolve` finds and that route's own traits, for every
    /// forwarded path (with and without a query) and for routes that are not forwarded.
    func testTraitsFoundWithTheRouteAreTheRoutesOwn() {
        var heads: [(HTTPMethod, String)] = Route.forwardedPaths.flatMap { path in
            [(HTTPMethod.POST, "/" + path), (.POST, "/" + path + "?api-version=1"), (.GET, "/" + path)]
        }
        heads += [(.GET, "/v1/models"), (.GET, "/health"), (.POST, "/v1/unknown"), (.GET, "/v1/models/a%2Fb")]
        for (method, uri) in heads {
            let head = HTTPReceivedRequestHead(method: method, uri: uri, version: .http1_1, fields: HTTPFieldBlock())
            let (route, traits) = Route.resolveWithTraits(head)
            XCTAssertEqual(route, Route.resolve(head), "\(method) \(uri)")
            XCTAssertEqual(traits, route.traits, "\(method) \(uri)")
        }
    }

    func testEveryForwardedPathIsAPostRoute() {
        XCTAssertEqual(Route.forwardedPaths.count, 30, "every config path but v1/images/data")
        for path in Route.forwardedPaths {
            XCTAssertEqual(Route.resolve(method: .POST, uri: "/" + path), .forward(path: path), path)
            XCTAssertEqual(Route.resolve(method: .POST, uri: "/" + path + "?api-version=1&x=%2F"), .forward(path: path))
            XCTAssertEqual(Route.resolve(method: .POST, uri: "/" + path).label, path)
        }
    }

    /// Forwarded paths are found by their bytes (no hashing, no `String` made): exactly the forwarded paths, with
    /// their traits; a path that differs in one byte, in case or in length is not one.
    func testTheForwardedRouteTableFindsExactlyTheForwardedPaths() {
        let table = ForwardedRouteTable.shared
        for path in Route.forwardedPaths {
            XCTAssertEqual(table.entry(for: Substring(path))?.path, path)
            XCTAssertEqual(table.entry(for: Substring(path))?.traits, RouteTraits.forwardedRoutes[path], path)
            XCTAssertNil(table.entry(for: Substring(path.uppercased())), path)
            XCTAssertNil(table.entry(for: path.dropLast()), path)
            XCTAssertNil(table.entry(for: Substring(path + "x")), path)
            XCTAssertNil(table.entry(for: Substring(String(path.dropLast()) + "_")), path)
        }
        for other in ["", "v1/images/data", "v1/realtime", "v1/chat/completionz", "/v1/chat/completions"] {
            XCTAssertNil(table.entry(for: Substring(other)), other)
        }
    }

    /// A request target is looked up in its own bytes as the path it names: before any query or fragment, less one
    /// leading slash — the same entry as through `pathPart` and `withoutLeadingSlash`, for every kind of target.
    func testARequestTargetFindsTheEntryOfItsPath() {
        let table = ForwardedRouteTable.shared
        var targets = ["", "/", "?", "#", "/?x", "//v1/chat/completions", "v1/chat/completions", "/v1/chat/completions/"]
        for path in Route.forwardedPaths {
            targets += [
                "/" + path, path, "/" + path + "?api-version=1", "/" + path + "#f", "/" + path + "?a#b",
                "/" + String(path.dropLast()) + "?" + String(path.suffix(1)), "/" + path + "x?y", "/" + path.uppercased(),
            ]
        }
        for target in targets {
            let expected = table.entry(for: Route.withoutLeadingSlash(Route.pathPart(of: target)))
            XCTAssertEqual(table.entry(forTarget: target)?.path, expected?.path, target)
        }
        XCTAssertEqual(table.entry(forTarget: "/v1/chat/completions?stream=1")?.path, "v1/chat/completions")
        XCTAssertNil(table.entry(forTarget: "/v1/chat/completions/x"))
    }

    func testWrongMethodIs405WithAllow() throws {
        let cases: [(HTTPMethod, String, String)] = [
            (.GET, "/v1/chat/completions", "POST"), (.PUT, "/v1/audio/speech", "POST"),
            (.DELETE, "/v1/images/edits", "POST"), (.POST, "/v1/models", "GET"), (.POST, "/health", "GET"),
            (.DELETE, "/v1/models/gpt-4o", "GET"), (.POST, "/health/gpt-4o", "GET"),
            (.POST, "/v1/images/data/img/file-1.png", "GET"),
        ]
        for (method, uri, allowed) in cases {
            guard case .rejected(let error) = Route.resolve(method: method, uri: uri) else {
                XCTFail("\(method) \(uri) was not rejected")
                continue
            }
            XCTAssertEqual(error.status, .methodNotAllowed, uri)
            XCTAssertEqual(error.code.rawValue, "method_not_allowed")
            XCTAssertEqual(error.headers.map(\.0), ["Allow"])
            XCTAssertEqual(error.headers.map(\.1), [allowed])
            XCTAssertTrue(error.message.contains(method.rawValue), error.message)
        }
    }

    func testGetRoutesAcceptHead() {
        XCTAssertEqual(Route.resolve(method: .HEAD, uri: "/v1/models"), .listModels)
        XCTAssertEqual(Route.resolve(method: .HEAD, uri: "/health"), .health)
        XCTAssertEqual(Route.resolve(method: .GET, uri: "/health?verbose=1"), .health)
    }

    func testModelIdsInPathsMayHoldSlashesAndPercentEscapes() {
        XCTAssertEqual(
            Route.resolve(method: .GET, uri: "/v1/models/meta-llama/Llama-3.1-8B"),
            .retrieveModel(id: "meta-llama/Llama-3.1-8B")
        )
        XCTAssertEqual(
            Route.resolve(method: .GET, uri: "/v1/models/meta-llama%2FLlama-3.1-8B?x=1"),
            .retrieveModel(id: "meta-llama/Llama-3.1-8B")
        )
        XCTAssertEqual(Route.resolve(method: .GET, uri: "/v1/models/a%20b%2f%C3%A9"), .retrieveModel(id: "a b/é"))
        XCTAssertEqual(Route.resolve(method: .GET, uri: "/health/org/sub/model"), .modelHealth(model: "org/sub/model"))
        XCTAssertEqual(Route.resolve(method: .GET, uri: "/health/org%2Fmodel"), .modelHealth(model: "org/model"))
    }

    func testBrokenPercentEscapesAreKeptAsSent() {
        XCTAssertEqual(Route.resolve(method: .GET, uri: "/v1/models/100%"), .retrieveModel(id: "100%"))
        XCTAssertEqual(Route.resolve(method: .GET, uri: "/v1/models/a%zz"), .retrieveModel(id: "a%zz"))
        // %FF alone is not UTF-8: the raw text is used rather than a lossy decode.
        XCTAssertEqual(Route.resolve(method: .GET, uri: "/v1/models/a%FF"), .retrieveModel(id: "a%FF"))
    }

    func testImageDataSplitsTheFileIdOffTheLastSegment() {
        XCTAssertEqual(
            Route.resolve(method: .GET, uri: "/v1/images/data/dall-e-3/file-abc.png"),
            .imageData(model: "dall-e-3", fileID: "file-abc.png")
        )
        XCTAssertEqual(
            Route.resolve(method: .GET, uri: "/v1/images/data/org/sd-xl/img_1.png?sig=abc"),
            .imageData(model: "org/sd-xl", fileID: "img_1.png")
        )
        XCTAssertEqual(
            Route.resolve(method: .GET, uri: "/v1/images/data/org%2Fsd-xl/img_1.png"),
            .imageData(model: "org/sd-xl", fileID: "img_1.png")
        )
        XCTAssertEqual(
            Route.resolve(method: .GET, uri: "/v1/images/data/org/sd-xl/dir%2Fimg_1.png"),
            .imageData(model: "org/sd-xl", fileID: "dir/img_1.png"),
            "an escaped slash belongs to the file id"
        )
        XCTAssertEqual(
            Route.resolve(method: .HEAD, uri: "/v1/images/data/m/f").label, "v1/images/data/{model}/{file_id}")
        for uri in [
            "/v1/images/data/only-model", "/v1/images/data/model/", "/v1/images/data//file", "/v1/images/data/",
        ] {
            guard case .rejected(let error) = Route.resolve(method: .GET, uri: uri) else {
                XCTFail("\(uri) was not rejected")
                continue
            }
            XCTAssertEqual(error.code.rawValue, "unknown_url", uri)
        }
    }

    func testUnknownPathsAre404() {
        for uri in [
            "/", "", "/v1", "/v1/models/", "/health/", "/v1/chat/completions/", "/v2/chat/completions",
            "/V1/chat/completions", "/v1/chat/completions/extra/more", "//v1/models", "/v1/images/data",
        ] {
            guard case .rejected(let error) = Route.resolve(method: .GET, uri: uri) else {
                XCTFail("\(uri) was not rejected")
                continue
            }
            XCTAssertEqual(error.status, .notFound, uri)
            XCTAssertEqual(error.code.rawValue, "unknown_url", uri)
        }
    }

    func testLabelsNeverCarryTheRawId() {
        XCTAssertEqual(Route.resolve(method: .GET, uri: "/v1/models").label, "v1/models")
        XCTAssertEqual(Route.resolve(method: .GET, uri: "/v1/models/secret-ish").label, "v1/models/{model}")
        XCTAssertEqual(Route.resolve(method: .GET, uri: "/health").label, "health")
        XCTAssertEqual(Route.resolve(method: .GET, uri: "/health/x").label, "health/{model}")
        XCTAssertEqual(Route.resolve(method: .GET, uri: "/nope").label, "-")
    }

    /// Calls by id: each family takes its own calls and methods; anything else is a 404 or a 405 naming them.
    func testCallsByIDTakeTheirFamilysCallsAndMethods() throws {
        let routed: [(HTTPMethod, String, IDFamily, String, String)] = [
            (.GET, "/v1/responses/resp_1", .responses, "resp_1", ""),
            (.POST, "/v1/responses/resp_1/cancel", .responses, "resp_1", "/cancel"),
            (.HEAD, "/v1/responses/resp_1/input_items?limit=2", .responses, "resp_1", "/input_items"),
            (.DELETE, "/v1/conversations/conv_1", .conversations, "conv_1", ""),
            (.GET, "/v1/conversations/conv_1/items", .conversations, "conv_1", "/items"),
            (.GET, "/v1/batches/batch_1", .batches, "batch_1", ""),
            (.POST, "/v1/batches/batch_1/cancel", .batches, "batch_1", "/cancel"),
            (.DELETE, "/v1/chat/completions/chatcmpl-1", .chatCompletions, "chatcmpl-1", ""),
            (.GET, "/v1/chat/completions/chatcmpl-1/messages", .chatCompletions, "chatcmpl-1", "/messages"),
            (.DELETE, "/v1/files/file-1", .files, "file-1", ""),
            (.GET, "/v1/files/file-1/content", .files, "file-1", "/content"),
            (.POST, "/v1/conversations/conv_1/items", .conversations, "conv_1", "/items"),
            (.DELETE, "/v1/conversations/conv_1/items/msg_1", .conversations, "conv_1", "/items/msg_1"),
            (.GET, "/v1/conversations/conv_1/items/a%20b", .conversations, "conv_1", "/items/a%20b"),
            (.POST, "/v1/uploads/upload_1/parts", .uploads, "upload_1", "/parts"),
            (.POST, "/v1/uploads/upload_1/complete", .uploads, "upload_1", "/complete"),
        ]
        for (method, uri, family, id, suffix) in routed {
            XCTAssertEqual(Route.resolve(method: method, uri: uri), .byID(family, id: id, suffix: suffix), uri)
        }
        XCTAssertEqual(
            Route.resolve(method: .GET, uri: "/v1/batches/batch_1/cancel").label, "-", "GET on cancel is a 405")
        for (method, uri, allowed) in [
            (HTTPMethod.DELETE, "/v1/batches/b", "GET"), (.GET, "/v1/batches/b/cancel", "POST"),
            (.PUT, "/v1/conversations/c", "GET, POST, DELETE"), (.POST, "/v1/chat/completions/c/messages", "GET"),
            (.POST, "/v1/files/f/content", "GET"), (.PUT, "/v1/files", "GET, POST"), (.DELETE, "/v1/batches", "GET, POST"),
            (.GET, "/v1/conversations", "POST"), (.GET, "/v1/uploads/u/parts", "POST"),
            (.POST, "/v1/conversations/c/items/i", "GET, DELETE"),
        ] {
            guard case .rejected(let error) = Route.resolve(method: method, uri: uri) else {
                XCTFail("\(method) \(uri) was routed")
                continue
            }
            XCTAssertEqual(error.status, .methodNotAllowed, uri)
            XCTAssertEqual(error.headers.map(\.1), [allowed], uri)
        }
        for uri in ["/v1/batches/", "/v1/conversations/c/items/i/x", "/v1/conversations/c/items/", "/v1/batches/b/other",
                    "/v1/responses/r/cancel/x", "/v1/batches/b/items/i"] {
            guard case .rejected(let error) = Route.resolve(method: .GET, uri: uri) else {
                XCTFail("\(uri) was routed")
                continue
            }
            XCTAssertEqual(error.status, .notFound, uri)
        }
        // `.` and `..` are path steps to the upstream, not ids: no object is ever reached through them.
        for uri in ["/v1/responses/..", "/v1/responses/%2E%2E", "/v1/responses/./cancel", "/v1/files/%2e/content",
                    "/v1/conversations/c/items/..", "/v1/conversations/c/items/%2E%2e"] {
            let method: HTTPMethod = uri.hasSuffix("cancel") ? .POST : .GET
            XCTAssertEqual(Route.resolve(method: method, uri: uri), .rejected(.unknownID), uri)
        }
        XCTAssertEqual(Route.resolve(method: .GET, uri: "/v1/batches/batch_1").label, "v1/batches/{id}")
        XCTAssertEqual(Route.resolve(method: .GET, uri: "/v1/files?limit=5"), .list(.files))
        XCTAssertEqual(
            Route.resolve(method: .GET, uri: "/v1/conversations/conv_secret/items/msg_secret").label,
            "v1/conversations/{id}/items/{item}")
        XCTAssertEqual(Route.resolve(method: .HEAD, uri: "/v1/batches"), .list(.batches))
        XCTAssertEqual(
            Route.resolve(method: .GET, uri: "/v1/chat/completions/x/messages").label, "v1/chat/completions/{id}/messages")
    }

    func testQueryAndFragmentAreNotPartOfThePath() {
        XCTAssertEqual(Route.pathPart(of: "/v1/models?x=/y"), "/v1/models")
        XCTAssertEqual(Route.pathPart(of: "/v1/models#frag"), "/v1/models")
        XCTAssertEqual(Route.pathPart(of: "/v1/models"), "/v1/models")
    }
}
