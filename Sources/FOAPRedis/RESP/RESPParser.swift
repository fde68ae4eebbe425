import NIOCore

/// Parses one complete RESP2/RESP3 value from the front of a buffer, or says it needs more bytes.
///
/// It validates everything (type bytes, numbers, CRLFs, boolean and double spellings) and bounds everything
/// (nesting depth, bulk size, line length, aggregate count), so a broken or hostile peer costs an error, not memory
/// or a stack overflow. An incomplete value is parsed again from its start when more bytes arrive: replies to our
/// commands are small, and this keeps the parser free of resumable state.
public struct RESPParser: Sendable {
    public struct Limits: Sendable, Equatable {
        /// Nesting of arrays, maps, sets and pushes; the top level value is depth 1.
        public var maximumDepth: Int
        /// Bytes of one bulk string, blob error or verbatim string (Redis's own `proto-max-bulk-len` default).
        public var maximumBulkLength: Int
        /// Bytes of one header or simple line (`+`, `-`, `:`, `,`, `(`).
        public var maximumLineLength: Int
        /// Elements of one aggregate (pairs for a map).
        public var maximumAggregateCount: Int

        public init(
            maximumDepth: Int = 32,
            maximumBulkLength: Int = 512 * 1024 * 1024,
            maximumLineLength: Int = 64 * 1024,
            maximumAggregateCount: Int = 16 * 1024 * 1024
        ) {
            self.maximumDepth = maximumDepth
            self.maximumBulkLength = maximumBulkLength
            self.maximumLineLength = maximumLineLength
            self.maximumAggregateCount = maximumAggregateCount
        }
    }

    public let limits: Limits

    public init(limits: Limits = Limits()) {
        self.limits = limits
    }

    /// Reads one value off `buffer`, or returns nil (and leaves `buffer` untouched) when it is not complete yet.
    public func parse(_ buffer: inout ByteBuffer) throws(RESPDecodingError) -> RESPValue? {
        var reader = buffer
        guard let value = try self.value(&reader, depth: 1) else {
            return nil
        }
        buffer = reader
        return value
    }

    private func value(_ reader: inout ByteBuffer, depth: Int) throws(RESPDecodingError) -> RESPValue? {
        guard let type = reader.getInteger(at: reader.readerIndex, as: UInt8.self) else {
            return nil
        }
        switch type {
        case UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: ":"), UInt8(ascii: ","), UInt8(ascii: "("),
            UInt8(ascii: "#"), UInt8(ascii: "_"):
            return try self.simple(type, &reader)
        case UInt8(ascii: "$"), UInt8(ascii: "!"), UInt8(ascii: "="):
            return try self.bulk(type, &reader)
        case UInt8(ascii: "*"), UInt8(ascii: "~"), UInt8(ascii: ">"), UInt8(ascii: "%"), UInt8(ascii: "|"):
            guard depth <= self.limits.maximumDepth else {
                throw RESPDecodingError(.tooDeep(limit: self.limits.maximumDepth))
            }
            return try self.aggregate(type, &reader, depth: depth)
        default:
            throw RESPDecodingError(.unknownType(type))
        }
    }

    /// The one-line types; `reader` is at the type byte.
    private func simple(_ type: UInt8, _ reader: inout ByteBuffer) throws(RESPDecodingError) -> RESPValue? {
        guard var line = try self.line(&reader) else {
            return nil
        }
        line.moveReaderIndex(forwardBy: 1)
        switch type {
        case UInt8(ascii: "+"):
            return .simpleString(line)
        case UInt8(ascii: "-"):
            return .simpleError(line)
        case UInt8(ascii: ":"):
            return .integer(try Self.integer(line))
        case UInt8(ascii: "("):
            _ = try Self.digits(line, allowSign: true)
            return .bigNumber(line)
        case UInt8(ascii: "#"):
            switch String(buffer: line) {
            case "t": return .boolean(true)
            case "f": return .boolean(false)
            default: throw RESPDecodingError(.invalidValue)
            }
        case UInt8(ascii: "_"):
            guard line.readableBytes == 0 else {
                throw RESPDecodingError(.invalidValue)
            }
            return .null
        default:
            return .double(try Self.double(line))
        }
    }

    /// The length-prefixed types; `reader` is at the type byte.
    private func bulk(_ type: UInt8, _ reader: inout ByteBuffer) throws(RESPDecodingError) -> RESPValue? {
        guard var header = try self.line(&reader) else {
            return nil
        }
        header.moveReaderIndex(forwardBy: 1)
        let length = try Self.integer(header)
        if length == -1 && type == UInt8(ascii: "$") {
            return .null  // RESP2's null bulk string
        }
        guard length >= 0 else {
            throw RESPDecodingError(.invalidNumber)
        }
        guard length <= self.limits.maximumBulkLength else {
            throw RESPDecodingError(.tooLarge(limit: self.limits.maximumBulkLength))
        }
        guard reader.readableBytes >= Int(length) + 2 else {
            return nil
        }
        var body = reader.readSlice(length: Int(length))!
        guard reader.readInteger(as: UInt16.self) == 0x0D0A else {
            throw RESPDecodingError(.missingCRLF)
        }
        switch type {
        case UInt8(ascii: "!"):
            return .blobError(body)
        case UInt8(ascii: "="):
            let colon = body.getInteger(at: body.readerIndex + 3, as: UInt8.self)
            guard body.readableBytes >= 4, colon == UInt8(ascii: ":") else {
                throw RESPDecodingError(.invalidValue)
            }
            let format = body.readString(length: 3)!
            body.moveReaderIndex(forwardBy: 1)
            return .verbatimString(format: format, body)
        default:
            return .bulkString(body)
        }
    }

    /// Arrays, sets, pushes, maps and attributes; `reader` is at the type byte.
    private func aggregate(
        _ type: UInt8,
        _ reader: inout ByteBuffer,
        depth: Int
    ) throws(RESPDecodingError) -> RESPValue? {
        guard var header = try self.line(&reader) else {
            return nil
        }
        header.moveReaderIndex(forwardBy: 1)
        let count = try Self.integer(header)
        if count == -1 && type == UInt8(ascii: "*") {
            return .null  // RESP2's null array
        }
        guard count >= 0 else {
            throw RESPDecodingError(.invalidNumber)
        }
        guard count <= self.limits.maximumAggregateCount else {
            throw RESPDecodingError(.tooLarge(limit: self.limits.maximumAggregateCount))
        }
        let pairs = type == UInt8(ascii: "%") || type == UInt8(ascii: "|")
        let elementCount = Int(count) * (pairs ? 2 : 1)
        var elements: [RESPValue] = []
        elements.reserveCapacity(min(elementCount, 1024))
        for _ in 0..<elementCount {
            guard let element = try self.value(&reader, depth: depth + 1) else {
                return nil
            }
            elements.append(element)
        }
        switch type {
        case UInt8(ascii: "*"):
            return .array(elements)
        case UInt8(ascii: "~"):
            return .set(elements)
        case UInt8(ascii: ">"):
            return .push(elements)
        case UInt8(ascii: "%"):
            let pairs = stride(from: 0, to: elements.count, by: 2).map {
                RESPPair(key: elements[$0], value: elements[$0 + 1])
            }
            return .map(pairs)
        default:
            // An attribute (metadata about the value that follows): we have no use for it, so the value stands alone.
            return try self.value(&reader, depth: depth)
        }
    }

    /// The line at the reader (type byte included, CRLF excluded), consumed with its CRLF.
    private func line(_ reader: inout ByteBuffer) throws(RESPDecodingError) -> ByteBuffer? {
        let view = reader.readableBytesView
        let searched = view.prefix(self.limits.maximumLineLength + 2)
        guard let newline = searched.firstIndex(of: UInt8(ascii: "\n")) else {
            if view.count > self.limits.maximumLineLength + 1 {
                throw RESPDecodingError(.tooLarge(limit: self.limits.maximumLineLength))
            }
            return nil
        }
        let length = newline - reader.readerIndex - 1
        guard length >= 1, reader.getInteger(at: newline - 1, as: UInt8.self) == UInt8(ascii: "\r") else {
            throw RESPDecodingError(.missingCRLF)
        }
        let line = reader.readSlice(length: length)!
        reader.moveReaderIndex(forwardBy: 2)
        guard line.readableBytesView.firstIndex(of: UInt8(ascii: "\r")) == nil else {
            throw RESPDecodingError(.missingCRLF)
        }
        return line
    }

    private static func integer(_ text: ByteBuffer) throws(RESPDecodingError) -> Int64 {
        guard let value = Int64(try Self.digits(text, allowSign: true)) else {
            throw RESPDecodingError(.invalidNumber)
        }
        return value
    }

    /// The text if it is an optional `-`/`+` and one or more ASCII digits.
    private static func digits(_ text: ByteBuffer, allowSign: Bool) throws(RESPDecodingError) -> String {
        var view = text.readableBytesView[...]
        if allowSign, let first = view.first, first == UInt8(ascii: "-") || first == UInt8(ascii: "+") {
            view = view.dropFirst()
        }
        guard !view.isEmpty, view.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else {
            throw RESPDecodingError(.invalidNumber)
        }
        return String(buffer: text)
    }

    private static func double(_ text: ByteBuffer) throws(RESPDecodingError) -> Double {
        let string = String(buffer: text)
        switch string {
        case "inf": return .infinity
        case "-inf": return -.infinity
        case "nan", "-nan": return .nan
        default:
            let allowed = string.utf8.allSatisfy { "0123456789+-.eE".utf8.contains($0) }
            guard allowed, let value = Double(string), value.isFinite else {
                throw RESPDecodingError(.invalidValue)
            }
            return value
        }
    }
}
