import Foundation

/// A validated, frozen config: everything a worker generation serves.
///
/// Built only by ``ConfigLoader/load()`` (or decoded from what it produced), then handed whole to every
/// worker of a generation via ``encoded()``, so all of them serve exactly what was validated even if the
/// directory changes again while they start. Workers keep it in a `let`: no lock on the hot path.
///
/// - Important: the encoded form contains resolved upstream keys. Pass it over a pipe or socket to the
///   workers; never log it or write it to a world-readable file.
public struct ConfigSnapshot: Sendable, Equatable, Codable {
    /// In config order: sorted file names, then provider order in the file, then model order.
    public let models: [ModelConfig]
    /// The client API keys (`FOAP_CLIENT_KEYS`); nil is keyless mode, where every client may use every model.
    public let clientKeys: ClientKeys?
    /// Things an operator should see that do not stop the load (unknown keys, unset key variables, ...).
    public let warnings: [ConfigWarning]
    /// SHA-256 (hex) over the name and bytes of every file read and every credential value, so the master
    /// can tell "nothing changed" after a rescan, including a rotated key.
    public let sourceDigest: String
    /// Unix seconds of the load; served as `created` in `/v1/models`.
    public let loadedAt: Int

    /// Index into `models` by id, built once in `init` so a request costs one hash lookup.
    @usableFromInline let indexByID: [String: Int]

    /// Builds a snapshot from already validated parts.
    ///
    /// - Precondition: model ids are unique (the loader guarantees it; a test double must, too).
    public init(
        models: [ModelConfig],
        clientKeys: ClientKeys? = nil,
        warnings: [ConfigWarning] = [],
        sourceDigest: String = "",
        loadedAt: Int = 0
    ) {
        self.models = models
        self.clientKeys = clientKeys
        self.warnings = warnings
        self.sourceDigest = sourceDigest
        self.loadedAt = loadedAt
        var index: [String: Int] = [:]
        index.reserveCapacity(models.count)
        for (offset, model) in models.enumerated() {
            let previous = index.updateValue(offset, forKey: model.id)
            precondition(previous == nil, "model id \(model.id) appears twice in a snapshot")
        }
        self.indexByID = index
    }

    /// The model that serves `route`'s requests without a `model` (`default_for_route`), if any. A walk over the
    /// models: only requests that name no model ask.
    public func defaultModel(forRoute route: String) -> ModelConfig? {
        self.models.first { $0.endpoints.contains { $0.path == route && $0.defaultForRoute } }
    }

    /// The model exposed as `id`, in O(1). Inlinable: a caller that reads the snapshot from a worker's engine then
    /// reads these two fields in place, instead of a copy of the whole snapshot (a retain and a release per field).
    @inlinable
    public func model(_ id: String) -> ModelConfig? {
        guard let offset = self.indexByID[id] else {
            return nil
        }
        return self.models[offset]
    }

    // MARK: - Handing the snapshot to workers

    /// The snapshot as JSON bytes, for a worker to rebuild with ``init(encoded:)``.
    public func encoded() -> [UInt8] {
        do {
            return Array(try Self.makeEncoder().encode(self))
        } catch {
            // Every field is a string, an integer or a Double encoded with a non-conforming-float strategy:
            // there is nothing left that can fail.
            preconditionFailure("encoding a ConfigSnapshot cannot fail: \(error)")
        }
    }

    /// Rebuilds a snapshot from ``encoded()`` output.
    ///
    /// - Throws: `DecodingError` when the bytes are not a snapshot, or define a model id twice.
    public init(encoded: [UInt8]) throws {
        self = try Self.makeDecoder().decode(ConfigSnapshot.self, from: Data(encoded))
    }

    private static let nonFiniteStrategy = (positiveInfinity: "+inf", negativeInfinity: "-inf", nan: "nan")

    private static func makeEncoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(
            positiveInfinity: Self.nonFiniteStrategy.positiveInfinity,
            negativeInfinity: Self.nonFiniteStrategy.negativeInfinity,
            nan: Self.nonFiniteStrategy.nan
        )
        return encoder
    }

    private static func makeDecoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(
            positiveInfinity: Self.nonFiniteStrategy.positiveInfinity,
            negativeInfinity: Self.nonFiniteStrategy.negativeInfinity,
            nan: Self.nonFiniteStrategy.nan
        )
        return decoder
    }

    // MARK: - Codable and Equatable without the index

    private enum CodingKeys: String, CodingKey {
        case models
        case clientKeys
        case warnings
        case sourceDigest
        case loadedAt
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let models = try container.decode([ModelConfig].self, forKey: .models)
        var seen = Set<String>()
        for model in models where !seen.insert(model.id).inserted {
            throw DecodingError.dataCorruptedError(
                forKey: .models,
                in: container,
                debugDescription: "model id \(model.id) appears twice"
            )
        }
        self.init(
            models: models,
            clientKeys: try container.decodeIfPresent(ClientKeys.self, forKey: .clientKeys),
            warnings: try container.decode([ConfigWarning].self, forKey: .warnings),
            sourceDigest: try container.decode(String.self, forKey: .sourceDigest),
            loadedAt: try container.decode(Int.self, forKey: .loadedAt)
        )
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(self.models, forKey: .models)
        try container.encodeIfPresent(self.clientKeys, forKey: .clientKeys)
        try container.encode(self.warnings, forKey: .warnings)
        try container.encode(self.sourceDigest, forKey: .sourceDigest)
        try container.encode(self.loadedAt, forKey: .loadedAt)
    }

    /// Equal when the content is equal; the index is derived from `models`.
    public static func == (lhs: ConfigSnapshot, rhs: ConfigSnapshot) -> Bool {
        lhs.models == rhs.models && lhs.clientKeys == rhs.clientKeys && lhs.warnings == rhs.warnings
            && lhs.sourceDigest == rhs.sourceDigest && lhs.loadedAt == rhs.loadedAt
    }
}
