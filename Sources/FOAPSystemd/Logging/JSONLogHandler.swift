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
        didSet {
            self.renderedMetadata = nil
        }
    }

    private let sink: LogSink
    /// Rendered in `init`; dropped when the metadata changes afterwards. AsyncHTTPClient sets request and connection
    /// ids on its logger for every request, even one that never logs a record, and re-rendering the whole
    /// metadata each time (event loop descriptions included) cost ~40,000 instructions per proxied request. A
    /// record of a changed handler renders its metadata on the fly instead.
    private var renderedMetadata: PrerenderedMetadata<[UInt8]>?
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
        self.metadata = metadata
        self.renderedMetadata = Self.render(metadata)
        var fragment: [UInt8] = Array(#","label":"#.utf8)
        JSONBytes.appendString(label, to: &fragment)
        self.labelFragment = fragment
    }

    /// One entry of `metadata`; a value like the rest of the handler, as swift-log requires.
    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { self.metadata[key] }
        set { self.metadata[key] = newValue }
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
        (self.renderedMetadata ?? Self.render(self.metadata)).forEach(notOverriddenBy: recordMetadata) { fragment in
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

    private static func render(_ metadata: Logger.Metadata) -> PrerenderedMetadata<[UInt8]> {
        PrerenderedMetadata(metadata) { key, value in
            var fragment: [UInt8] = []
            Self.appendMember(key: key, value: value, to: &fragment)
            return fragment
        }
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
