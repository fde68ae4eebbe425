/// The upstream key of a provider, resolved when the config is loaded.
///
/// The secret travels inside the snapshot (workers need it), so every textual form of this type hides it:
/// `description`, `debugDescription` and the reflection used by `dump` and by the default printing of the
/// structs that contain it all show `key(***)`.
public enum Credential: Sendable, Equatable, Codable, CustomStringConvertible, CustomDebugStringConvertible,
    CustomReflectable
{
    /// The provider sets neither `api_key_variable` nor `api_key_file`: send no `Authorization` header.
    case none
    /// The resolved secret, to be sent as `Authorization: Bearer <key>`.
    case key(String)
    /// A key is configured but was found nowhere. Requests for the provider must fail with an error naming
    /// `variable` rather than reach the upstream unauthenticated. `variable` is the `api_key_variable`, or
    /// the `api_key_file` path when the provider names only a file.
    case missing(variable: String)

    public var description: String {
        switch self {
        case .none: return "none"
        case .key: return "key(***)"
        case .missing(let variable): return "missing(variable: \(variable))"
        }
    }

    public var debugDescription: String {
        self.description
    }

    /// No children: `dump` and `Mirror` must not reach the secret.
    public var customMirror: Mirror {
        Mirror(self, children: [], displayStyle: .enum)
    }
}
