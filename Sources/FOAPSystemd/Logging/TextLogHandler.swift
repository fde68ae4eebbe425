import Logging

/// Writes each record as one human-readable line, for a person watching a terminal.
///
/// `2026-11-25T22:13:04.123Z info foap: request done model=gpt-4o status=200`: timestamp, level, label, message,
/// then `key=value` pairs sorted by key (handler metadata first, then the record's own). A record never spans two
/// lines: control characters in the message are escaped (`\n`), and a value that is empty or holds spaces, quotes,
/// `=` or control characters is written as a quoted JSON string, as are nested dictionaries and arrays. Tools
/// should read the JSON format instead; this one is only stable enough for eyes.
public struct TextLogHandler: LogHandler {
    /// The logger label, written before the message.
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
    /// Where timestamps come from; tests pin it.
    var clock: @Sendable () -> LogTimestamp = LogTimestamp.now

    /// - Parameters:
    ///   - label: The logger label (`Logger(label:)`).
    ///   - sink: Where lines go; share one sink per destination so lines never interleave.
    ///   - metadata: Metadata written on every record.
    public init(label: String, sink: LogSink = .standardOutput, metadata: Logger.Metadata = [:]) {
        self.label = label
        self.sink = sink
        self.handlerMetadata = HandlerMetadata(metadata, render: Self.renderEntry)
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
        line.reserveCapacity(256)
        self.clock().append(to: &line)
        line.append(UInt8(ascii: " "))
        line.append(contentsOf: event.level.rawValue.utf8)
        line.append(UInt8(ascii: " "))
        line.append(contentsOf: self.label.utf8)
        line.append(contentsOf: ": ".utf8)
        Self.appendEscapingControlCharacters(event.message.description, to: &line)
        self.handlerMetadata.forEach(notOverriddenBy: recordMetadata) { fragment in
            line.append(contentsOf: fragment)
        }
        if let recordMetadata {
            for key in recordMetadata.keys.sorted() {
                Self.appendPair(key: key, value: recordMetadata[key]!, to: &line)
            }
        }
        line.append(UInt8(ascii: "\n"))
        self.sink.write(line)
    }

    @Sendable
    private static func renderEntry(key: String, value: Logger.MetadataValue) -> [UInt8] {
        var fragment: [UInt8] = []
        Self.appendPair(key: key, value: value, to: &fragment)
        return fragment
    }

    /// Appends ` key=value`, quoting the value when a reader could otherwise misparse it.
    private static func appendPair(key: String, value: Logger.MetadataValue, to buffer: inout [UInt8]) {
        buffer.append(UInt8(ascii: " "))
        Self.appendEscapingControlCharacters(key, to: &buffer)
        buffer.append(UInt8(ascii: "="))
        switch value {
        case .string(let string):
            Self.appendScalar(string, to: &buffer)
        case .stringConvertible(let convertible):
            Self.appendScalar(convertible.description, to: &buffer)
        case .dictionary, .array:
            JSONBytes.appendValue(value, to: &buffer)
        }
    }

    private static func appendScalar(_ string: String, to buffer: inout [UInt8]) {
        if Self.needsQuoting(string) {
            JSONBytes.appendString(string, to: &buffer)
        } else {
            buffer.append(contentsOf: string.utf8)
        }
    }

    private static func needsQuoting(_ string: String) -> Bool {
        string.isEmpty
            || string.utf8.contains { byte in
                byte <= UInt8(ascii: " ") || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "=") || byte == 0x7F
            }
    }

    /// Keeps the record on one line: control characters become their JSON escapes, everything else stays as is.
    private static func appendEscapingControlCharacters(_ string: String, to buffer: inout [UInt8]) {
        guard string.utf8.contains(where: { $0 < 0x20 }) else {
            buffer.append(contentsOf: string.utf8)
            return
        }
        for byte in string.utf8 {
            if byte < 0x20 {
                var escaped: [UInt8] = []
                JSONBytes.appendEscaped(String(UnicodeScalar(byte)), to: &escaped)
                buffer.append(contentsOf: escaped)
            } else {
                buffer.append(byte)
            }
        }
    }
}
