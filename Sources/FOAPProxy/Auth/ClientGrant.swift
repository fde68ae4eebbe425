import NIOCore

/// What one authenticated client may use: the models of its key, and the `/v1/models` answer listing exactly them.
///
/// Built once per key and snapshot by ``ClientAuthenticator`` and shared by every request with that key, so a
/// request pays one set lookup per model check and nothing for `/v1/models`. In keyless mode one grant allows
/// everything. A class so a request holds it with one reference instead of copying its fields.
final class ClientGrant: Sendable {
    /// The key's name for access records; nil in keyless mode.
    let keyName: String?
    /// `/v1/models` for this client: the allowed models, in config order.
    let modelList: ByteBuffer
    /// The configured model ids the key may use; nil allows every model (keyless mode).
    private let allowedModels: Set<String>?

    init(keyName: String?, allowedModels: Set<String>?, modelList: ByteBuffer) {
        self.keyName = keyName
        self.allowedModels = allowedModels
        self.modelList = modelList
    }

    /// Whether the client may use model `id`. An id outside the config is never allowed by a key, so unknown and
    /// forbidden models get the same 404 and a client cannot probe which models exist.
    func allows(_ id: String) -> Bool {
        guard let allowedModels = self.allowedModels else {
            return true
        }
        return allowedModels.contains(id)
    }
}
