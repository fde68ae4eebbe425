/// The outcome of reading one optional key: absent, present and valid, or present but invalid.
///
/// The third case matters: an invalid provider default has already been reported, so endpoints that would
/// inherit it must not report "missing" a second time.
enum ConfigField<Value> {
    case absent
    case invalid
    case present(Value)

    /// The value when present and valid.
    var value: Value? {
        if case .present(let value) = self {
            return value
        }
        return nil
    }

    /// This field if it was written at all (valid or not), else `fallback`: the endpoint → provider rule.
    func orInherited(_ fallback: ConfigField<Value>) -> ConfigField<Value> {
        if case .absent = self {
            return fallback
        }
        return self
    }
}

extension ConfigField: Sendable where Value: Sendable {}
