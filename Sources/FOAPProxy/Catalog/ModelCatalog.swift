import FOAPConfig
import NIOCore

/// The `/v1/models` answers, rendered once per config snapshot: they never change while a worker lives.
public struct ModelCatalog: Sendable {
    /// `{"object":"list","data":[…]}` in config order.
    public let listBody: ByteBuffer
    private let entries: [String: ByteBuffer]

    public init(snapshot: ConfigSnapshot) {
        var entries: [String: ByteBuffer] = [:]
        var list = ByteBuffer()
        list.writeStaticString("{\"object\":\"list\",\"data\":[")
        for (index, model) in snapshot.models.enumerated() {
            var entry = ByteBuffer()
            entry.writeStaticString("{\"id\":")
            entry.writeJSONString(model.id)
            entry.writeStaticString(",\"object\":\"model\",\"created\":")
            entry.writeString(String(snapshot.loadedAt))
            entry.writeStaticString(",\"owned_by\":")
            entry.writeJSONString(model.provider.name)
            entry.writeStaticString("}")
            if index > 0 { list.writeStaticString(",") }
            list.writeImmutableBuffer(entry)
            entries[model.id] = entry
        }
        list.writeStaticString("]}\n")
        self.listBody = list
        self.entries = entries
    }

    /// The single-model answer, or nil for an unknown id.
    public func entry(for id: String) -> ByteBuffer? {
        self.entries[id]
    }
}
