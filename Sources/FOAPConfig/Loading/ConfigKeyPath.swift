/// A key path inside a config file, rendered as `openAI.models.gpt-4o.endpoints[1].path`.
///
/// Keys are written as is, even with dots or slashes in them (`models.gpt-3.5-turbo`): the operator reads
/// the path to find the spot in the file, and the raw key is what they will search for.
struct ConfigKeyPath: Sendable, Equatable, CustomStringConvertible {
    private(set) var description: String

    /// The path of a top-level key (a provider name).
    init(_ key: String) {
        self.description = key
    }

    /// The path of `key` inside the object at this path.
    func appending(_ key: String) -> ConfigKeyPath {
        var path = self
        path.description += "." + key
        return path
    }

    /// The path of element `index` of the array at this path.
    func appending(index: Int) -> ConfigKeyPath {
        var path = self
        path.description += "[\(index)]"
        return path
    }
}
