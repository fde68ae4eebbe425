/// How the last reload ended: the end of the systemd STATUS line and `last_reload` in `foap ctl status`.
///
/// A value, not a string, so the state machine can tell a failure still on show from a success: a failure stays in
/// the status until a later load shows the directory serves again (see `configLoaded`).
enum LastReload: Equatable, CustomStringConvertible {
    /// No reload since the start.
    case none
    /// `generation` was started for the config that reload read and now serves it.
    case served(generation: Int)
    /// The config read was valid and the one `generation` already serves: nothing to start.
    case unchanged(generation: Int)
    /// The config read was invalid (its first error); the serving generation kept serving.
    case configInvalid(firstError: String)
    /// The generation started for the config did not come up; the old one kept serving.
    case generationFailed(generation: Int, reason: String)
    /// The config was valid but had no models while the active one has some; not applied without a force.
    case refusedNoModels

    var description: String {
        switch self {
        case .none: "none"
        case .served(let generation): "ok (generation \(generation))"
        case .unchanged(let generation): "ok (unchanged, generation \(generation))"
        case .configInvalid(let firstError): "config invalid: \(firstError)"
        case .generationFailed(let generation, let reason): "generation \(generation) failed: \(reason)"
        case .refusedNoModels: "refused: the new config has no models (foap ctl reload --force applies it)"
        }
    }

    /// The status says something went wrong.
    var isFailure: Bool {
        switch self {
        case .none, .served, .unchanged: false
        case .configInvalid, .generationFailed, .refusedNoModels: true
        }
    }
}
