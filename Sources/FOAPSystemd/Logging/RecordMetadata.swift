import Logging

/// The metadata one record adds on top of its handler's own metadata.
///
/// Shared by every foap handler so they agree on precedence: handler metadata < metadata provider < metadata
/// passed at the call site < the event's error. The error becomes `error` (its description) and `error_type`,
/// snake_case like every other foap key.
enum RecordMetadata {
    /// Returns `nil` when the record adds nothing, so handlers can take their pre-rendered fast path.
    static func collect(event: LogEvent, provider: Logger.MetadataProvider?) -> Logger.Metadata? {
        let provided = provider?.get() ?? [:]
        let explicit = event.metadata ?? [:]
        guard !provided.isEmpty || !explicit.isEmpty || event.error != nil else {
            return nil
        }
        // The access record's case: one dictionary and nothing to merge into it. Merging into an empty one re-hashed
        // every key (~24,000 instructions per access record in bench/profile).
        if provided.isEmpty && event.error == nil {
            return explicit
        }
        var merged = provided
        merged.merge(explicit) { _, explicit in explicit }
        if let error = event.error {
            merged["error"] = .string(String(describing: error))
            merged["error_type"] = .string(String(reflecting: type(of: error)))
        }
        return merged
    }
}

/// A handler's own metadata, rendered once when it is set instead of once per record.
///
/// Handler metadata (`pid`, `worker`, `generation`, …) is set at start-up and then read on every record, so the
/// handler renders each entry when it is made and a record only copies the results. Entries are kept in
/// key order so output is deterministic.
struct PrerenderedMetadata<Rendered: Sendable>: Sendable {
    /// The rendered entries, sorted by key.
    private(set) var entries: [(key: String, rendered: Rendered)]

    init(_ metadata: Logger.Metadata, render: (String, Logger.MetadataValue) -> Rendered) {
        self.entries = metadata.keys.sorted().map { key in (key, render(key, metadata[key]!)) }
    }

    /// Calls `body` for each entry whose key the record does not override.
    func forEach(notOverriddenBy record: Logger.Metadata?, _ body: (Rendered) -> Void) {
        for entry in self.entries where record?[entry.key] == nil {
            body(entry.rendered)
        }
    }
}

/// A handler's own metadata with its rendering: rendered once, and again only after the metadata changed.
///
/// AsyncHTTPClient sets request and connection ids on its logger for every request, even one that never logs a
/// record, and re-rendering the whole metadata each time (event loop descriptions included) cost ~40,000
/// instructions per proxied request. So a change only drops the rendering; a record of a changed handler renders
/// the metadata on the fly.
struct HandlerMetadata<Rendered: Sendable>: Sendable {
    var metadata: Logger.Metadata {
        didSet {
            self.rendered = nil
        }
    }
    private var rendered: PrerenderedMetadata<Rendered>?
    private let render: @Sendable (String, Logger.MetadataValue) -> Rendered

    init(_ metadata: Logger.Metadata, render: @escaping @Sendable (String, Logger.MetadataValue) -> Rendered) {
        self.metadata = metadata
        self.render = render
        self.rendered = PrerenderedMetadata(metadata, render: render)
    }

    /// Calls `body` with each rendered entry, in key order, that `record` does not override.
    func forEach(notOverriddenBy record: Logger.Metadata?, _ body: (Rendered) -> Void) {
        let rendered = self.rendered ?? PrerenderedMetadata(self.metadata, render: self.render)
        rendered.forEach(notOverriddenBy: record, body)
    }
}
