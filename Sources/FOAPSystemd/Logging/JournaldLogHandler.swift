import Logging

/// Sends each record to journald natively, one journal field per metadata key.
///
/// Under systemd this is what makes `journalctl FOAP_MODEL=gpt-4o` and `journalctl -o json` useful: the record
/// carries `MESSAGE`, `PRIORITY` (syslog levels, so `journalctl -p warning` works), `SYSLOG_IDENTIFIER=foap`,
/// `CODE_FILE`/`CODE_LINE`/`CODE_FUNC`, `FOAP_LABEL`, and `FOAP_<KEY>` for every metadata entry (see
/// `JournalFieldName`). journald adds the trusted fields (`_PID`, `_SYSTEMD_UNIT`, the timestamp) itself, so no
/// timestamp is sent. Values are passed as raw bytes; multi-line messages stay one record.
///
/// The handler's own metadata is converted to fields once when it changes; a record only copies them.
public struct JournaldLogHandler: LogHandler {
    /// The `SYSLOG_IDENTIFIER` of every foap record, whatever the executable is called.
    static let syslogIdentifier = "foap"

    /// The logger label, sent as `FOAP_LABEL`.
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

    private let sender: any JournalSender
    /// Rendered in `init`; dropped when the metadata changes afterwards. AsyncHTTPClient sets request and connection
    /// ids on its logger for every request, even one that never logs a record, and re-rendering the whole
    /// metadata each time (event loop descriptions included) cost ~40,000 instructions per proxied request. A
    /// record of a changed handler renders its metadata on the fly instead.
    private var renderedMetadata: PrerenderedMetadata<JournalField>?

    /// - Parameters:
    ///   - label: The logger label (`Logger(label:)`).
    ///   - sender: Delivers records; `SystemdJournalSender` in production.
    ///   - metadata: Metadata sent with every record, such as `pid`, `worker` and `generation`.
    public init(label: String, sender: any JournalSender = SystemdJournalSender(), metadata: Logger.Metadata = [:]) {
        self.label = label
        self.sender = sender
        self.metadata = metadata
        self.renderedMetadata = Self.render(metadata)
    }

    /// One entry of `metadata`; a value like the rest of the handler, as swift-log requires.
    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { self.metadata[key] }
        set { self.metadata[key] = newValue }
    }

    /// Builds the record's fields and hands them to the sender as one journal entry.
    public func log(event: LogEvent) {
        self.sender.send(fields: self.fields(of: event))
    }

    /// The fields of one record, in a fixed order: journald's own, then handler metadata by key, then the record's
    /// metadata by key. No I/O, so tests check records without a journal.
    func fields(of event: LogEvent) -> [JournalField] {
        let recordMetadata = RecordMetadata.collect(event: event, provider: self.metadataProvider)
        var fields: [JournalField] = []
        fields.reserveCapacity(7 + self.metadata.count + (recordMetadata?.count ?? 0))
        fields.append(("MESSAGE", Array(event.message.description.utf8)))
        fields.append(("PRIORITY", Array(String(JournalFields.priority(of: event.level)).utf8)))
        fields.append(("SYSLOG_IDENTIFIER", Array(Self.syslogIdentifier.utf8)))
        fields.append(("FOAP_LABEL", Array(self.label.utf8)))
        fields.append(("CODE_FILE", Array(event.file.utf8)))
        fields.append(("CODE_LINE", Array(String(event.line).utf8)))
        fields.append(("CODE_FUNC", Array(event.function.utf8)))
        (self.renderedMetadata ?? Self.render(self.metadata)).forEach(notOverriddenBy: recordMetadata) { field in
            fields.append(field)
        }
        if let recordMetadata {
            for key in recordMetadata.keys.sorted() {
                fields.append(JournalFields.field(forKey: key, value: recordMetadata[key]!))
            }
        }
        return fields
    }

    private static func render(_ metadata: Logger.Metadata) -> PrerenderedMetadata<JournalField> {
        PrerenderedMetadata(metadata) { key, value in JournalFields.field(forKey: key, value: value) }
    }
}
