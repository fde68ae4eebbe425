import FOAPConfig
import NIOCore

/// The `/v1/models` answers, rendered once per config snapshot: they never change while a worker lives.
public struct ModelCatalog: Sendable {
    /// `{"object":"list","data":[…]}` in config order.
    public let listBody: ByteBuffer
    private let entries: [String: ByteBuffer]
    /// Model ids in config order, for lists filtered per client key.
    private let order: [String]

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
        self.order = snapshot.models.map(\.id)
    }

    /// The single-model answer, or nil for an unknown id.
    public func entry(for id: String) -> ByteBuffer? {
        self.entries[id]
    }

    /// The list answer with only the models in `ids`, in config order: what a client key may see.
    public func listBody(including ids: Set<String>) -> ByteBuffer {
        var list = ByteBuffer()
        list.writeStaticString("{\"object\":\"list\",\"data\":[")
        var first = true
        for id in self.order where ids.contains(id) {
            guard let entry = self.entries[id] else { continue }
            if !first { list.writeStaticString(",") }
            first = false
            list.writeImmutableBuffer(entry)
        }
        list.writeStaticString("]}\n")
        return list
    }
}
