import NIOCore

/// Writes the upstream's model name into the held start of a multipart upload: the `model` part's value is
/// replaced, every other byte (parts, filenames, content types, the rest of the held bytes) is copied unchanged.
/// The JSON counterpart is `JSONModelRewriter`; `ProxyExchange.upstreamBody(for:)` picks between them.
enum MultipartModelRewriter {
    /// `held` with the value of `field` replaced by `targetModel`.
    static func rewrite(_ held: ByteBuffer, field: MultipartModelField, targetModel: String) -> ByteBuffer {
        var output = ByteBuffer()
        output.reserveCapacity(held.readableBytes + targetModel.utf8.count)
        output.writeImmutableBuffer(held.getSlice(at: held.readerIndex, length: field.valueRange.lowerBound)!)
        output.writeString(targetModel)
        output.writeImmutableBuffer(Self.rest(of: held, after: field))
        return output
    }

    /// The held bytes after the `model` value (from the delimiter that ends it).
    static func rest(of held: ByteBuffer, after field: MultipartModelField) -> ByteBuffer {
        let start = held.readerIndex + field.valueRange.upperBound
        return held.getSlice(at: start, length: held.writerIndex - start)!
    }
}
