import NIOHTTP1

/// The kinds of object an upstream keeps and that clients then call by id (`GET /v1/batches/{id}`): the calls each
/// takes, and the endpoint `path` a model must serve for foap to send them there.
public enum IDFamily: String, Sendable, CaseIterable {
    case responses = "v1/responses"
    case conversations = "v1/conversations"
    case batches = "v1/batches"
    /// Stored chat completions (`store: true`).
    case chatCompletions = "v1/chat/completions"
    case files = "v1/files"
    /// Large files in parts: `POST /v1/uploads`, then `…/{id}/parts`, `…/complete` or `…/cancel`.
    case uploads = "v1/uploads"

    /// The endpoint `path` whose model serves this family's calls by id.
    var path: String { self.rawValue }

    /// The call on one item of a conversation (`items/{item}`).
    static let itemCall = "items/{item}"

    /// The methods a call by id takes, by what follows `/{id}` (`""` is the object itself); nil for no such call.
    /// `HEAD` goes wherever `GET` does.
    func methods(after suffix: String) -> [HTTPMethod]? {
        switch (self, suffix) {
        case (.conversations, ""), (.chatCompletions, ""): return [.GET, .POST, .DELETE]
        case (.responses, ""), (.files, ""): return [.GET, .DELETE]
        case (.batches, ""): return [.GET]
        case (.responses, "cancel"), (.batches, "cancel"), (.uploads, "cancel"), (.uploads, "complete"),
            (.uploads, "parts"):
            return [.POST]
        case (.conversations, "items"): return [.GET, .POST]
        case (.conversations, Self.itemCall): return [.GET, .DELETE]
        case (.responses, "input_items"), (.chatCompletions, "messages"),
            (.files, "content"):
            return [.GET]
        default: return nil
        }
    }

    /// A POST of this call carries a body (metadata, items, an upload's part ids, a part's bytes), forwarded to the
    /// object's upstream; the others are sent without one.
    func callTakesBody(after suffix: String) -> Bool {
        switch (self, suffix) {
        case (.conversations, ""), (.conversations, "/items"), (.chatCompletions, ""), (.uploads, "/parts"),
            (.uploads, "/complete"):
            return true
        default:
            return false
        }
    }

    /// `GET /v1/files`, `GET /v1/batches`: a list kept by one upstream, named by `?model=`, `X-Foap-Model` or the
    /// route's `default_for_route` model.
    var isListable: Bool { self == .files || self == .batches }

    /// The answers of a call by id get the trailer of the upstream that made the object. Not for stored chat
    /// completions: their ids leave foap untagged when they are made (chat answers are passed as they stream), so
    /// every call names its model (`?model=`, `X-Foap-Model`) and an answer must not hand back an id the client
    /// does not hold. Not for a file's content either: it streams back byte for byte, never held.
    func tagsAnswers(after suffix: String) -> Bool { self != .chatCompletions && suffix != "/content" }
}
