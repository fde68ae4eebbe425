import Logging

/// Writes each record as one JSON object on one line, the format log shippers and `jq` read.
///
/// A record looks like
/// `{"ts":"2026-11-25T22:13:04.123Z","level":"info","msg":"request done","label":"foap","model":"gpt-4o",…}`:
/// four fixed keys, then the handler's metadata and the record's metadata flattened as top-level keys (nested
/// dictionaries and arrays become JSON objects and arrays). A metadata key that collides with a fixed key is
/// written as `meta_<key>` so a parser never sees a duplicate key.
///
/// The access log runs at tens of thousands of records per second, so a record is built in one `[UInt8]` without
/// Foundation, the handler's own metadata is rendered once when it changes, and the sink writes the line with one
/// `write(2)`. Level filtering is left to `Logger`, which checks `logLevel` before calling `log(event:)`.
public struct JSONLogHandler: LogHandler {
    /// The logger label, written as `"label"`.
    public let label: String
    /// The minimum level; `Logger` checks it before building a record, so a filtered record costs nothing here.
    public var logLevel: Logger.Level = .info
    /// Contextual metadata (task-local request ids, …) read once per record.
    public var metadataProvider: Logger.MetadataProvider?
    /// Metadata on every record of this handler. What `init` receives is rendered once, so records only copy bytes.
    public var metadata: Logger.Metadata {
        get { self.handlerMetadata.metadata }
        set { self.handlerMetadata.metadata = newValue }
    }

    private let sink: LogSink
    /// Rendered once, and again only after a change (see `HandlerMetadata`).
    private var handlerMetadata: HandlerMetadata<[UInt8]>
    /// `,"label":"…"`, built once.
    private let labelFragment: [UInt8]
    /// Where timestamps come from; tests pin it.
    var clock: @Sendable () -> LogTimestamp = LogTimestamp.now

    /// - Parameters:
    ///   - label: The logger label (`Logger(label:)`).
    ///   - sink: Where lines go; share one sink per destination so lines never interleave.
    ///   - metadata: Metadata written on every record, such as `pid`, `worker` and `generation`.
    public init(label: String, sink: LogSink = .standardOutput, metadata: Logger.Metadata = [:]) {
        self.label = label
        self.sink = sink
        self.handlerMetadata = HandlerMetadata(metadata, render: Self.renderEntry)
        var fragment: [UInt8] = Array(#","label":"#.utf8)
        JSONBytes.appendString(label, to: &fragment)
        self.labelFragment = fragment
    }

    /// One entry of `metadata`; a value like the rest of the handler, as swift-log requires.
    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { self.handlerMetadata.metadata[key] }
        set { self.handlerMetadata.metadata[key] = newValue }  // in place: no copy of the whole dictionary
    }

    /// Formats the record into one buffer and hands it to the sink as one line.
    public func log(event: LogEvent) {
        let recordMetadata = RecordMetadata.collect(event: event, provider: self.metadataProvider)
        var line: [UInt8] = []
        line.reserveCapacity(512)
        JSONRecordWriter.appendFixedKeys(
            timestamp: self.clock(),
            level: event.level,
            message: event.message.description,
            to: &line
        )
        line.append(contentsOf: self.labelFragment)
        self.handlerMetadata.forEach(notOverriddenBy: recordMetadata) { fragment in
            line.append(contentsOf: fragment)
        }
        if let recordMetadata {
            for key in recordMetadata.keys.sorted() {
                Self.appendMember(key: key, value: recordMetadata[key]!, to: &line)
            }
        }
        line.append(contentsOf: "}\n".utf8)
        self.sink.write(line)
    }

    @Sendable
    private static func renderEntry(key: String, value: Logger.MetadataValue) -> [UInt8] {
        var fragment: [UInt8] = []
        Self.appendMember(key: key, value: value, to: &fragment)
        return fragment
    }

    /// Whether `key` is one of the fixed keys every record starts with (`ts`, `level`, `msg`, `label`); compared directly, since hashing every metadata key of every record
    /// into the set cost more than the comparisons of these four short strings.
    private static func isReserved(_ key: String) -> Bool {
        switch key {
        case "ts", "level", "msg", "label": return true
        default: return false
        }
    }

    /// Appends `,"key":value`.
    static func appendMember(key: String, value: Logger.MetadataValue, to buffer: inout [UInt8]) {
        buffer.append(UInt8(ascii: ","))
        JSONBytes.appendString(Self.isReserved(key) ? "meta_" + key : key, to: &buffer)
        buffer.append(UInt8(ascii: ":"))
        JSONBytes.appendValue(value, to: &buffer)
    }
}
