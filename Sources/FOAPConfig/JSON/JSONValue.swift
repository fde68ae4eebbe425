/// A 1-based position in a JSON text, so every error can point an editor at the right spot.
///
/// `column` counts Unicode scalars, not bytes, because that is what editors show for UTF-8 files.
struct JSONPosition: Sendable, Equatable {
    var line: Int
    var column: Int

    static let start = JSONPosition(line: 1, column: 1)
}

/// A parsed JSON value that keeps object members in the order they were written.
///
/// Order matters to foap: `/v1/models` lists models "in config order", which is the order of the
/// keys in each file. `Dictionary` would lose it.
indirect enum JSONValue: Sendable, Equatable {
    case object(JSONObject)
    case array([JSONNode])
    case string(String)
    case number(Double)
    case bool(Bool)
    case null

    /// The kind of value, as named in "expected a string, found a number" messages.
    ///
    /// Validation messages name the kind, never the value, so that a misplaced secret is never printed.
    var kindName: String {
        switch self {
        case .object: return "an object"
        case .array: return "an array"
        case .string: return "a string"
        case .number: return "a number"
        case .bool: return "a boolean"
        case .null: return "null"
        }
    }
}

/// A value together with the position where it starts.
struct JSONNode: Sendable, Equatable {
    var value: JSONValue
    var position: JSONPosition
}

/// One `"key": value` member of an object.
struct JSONMember: Sendable, Equatable {
    var key: String
    var keyPosition: JSONPosition
    var value: JSONNode
}

/// The members of an object, in file order. Keys are unique: the reader rejects duplicates.
struct JSONObject: Sendable, Equatable {
    var members: [JSONMember]

    /// The member named `key`, if present. Linear: config objects have a handful of keys.
    subscript(key: String) -> JSONMember? {
        self.members.first { $0.key == key }
    }
}

/// A JSON text that is not valid RFC 8259 JSON, with the position of the first offending character.
struct JSONSyntaxError: Error, Sendable, Equatable {
    var position: JSONPosition
    var message: String
}
