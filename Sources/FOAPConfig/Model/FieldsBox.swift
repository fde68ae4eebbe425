/// A config value's fields behind one reference: a copy of the struct that holds them is one retain, not one per
/// string and array (see `ModelConfig`).
final class FieldsBox<Fields: Sendable>: Sendable {
    let fields: Fields

    init(_ fields: Fields) {
        self.fields = fields
    }
}
