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
        get { self.handlerMetadata.metadata }
        set { self.handlerMetadata.metadata = newValue }
    }

    private let sender: any JournalSender
    /// Rendered once, and again only after a change (see `HandlerMetadata`).
    private var handlerMetadata: HandlerMetadata<JournalField>

    /// - Parameters:
    ///   - label: The logger label (`Logger(label:)`).
    ///   - sender: Delivers records; `SystemdJournalSender` in production.
    ///   - metadata: Metadata sent with every record, such as `pid`, `worker` and `generation`.
    public init(label: String, sender: any JournalSender = SystemdJournalSender(), metadata: Logger.Metadata = [:]) {
        self.label = label
        self.sender = sender
        self.handlerMetadata = HandlerMetadata(metadata, render: Self.renderEntry)
    }

    /// One entry of `metadata`; a value like the rest of the handler, as swift-log requires.
    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { self.handlerMetadata.metadata[key] }
        set { self.handlerMetadata.metadata[key] = newValue }  // in place: no copy of the whole dictionary
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
        self.handlerMetadata.forEach(notOverriddenBy: recordMetadata) { field in
            fields.append(field)
        }
        if let recordMetadata {
            for key in recordMetadata.keys.sorted() {
                fields.append(JournalFields.field(forKey: key, value: recordMetadata[key]!))
            }
        }
        return fields
    }

    @Sendable
    private static func renderEntry(key: String, value: Logger.MetadataValue) -> JournalField {
        JournalFields.field(forKey: key, value: value)
    }
}
