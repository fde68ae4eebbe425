import NIOCore

/// Replaces the top-level `model` value(s) of a JSON body, copying every other byte unchanged.
public enum JSONModelRewriter {
    /// - Parameters:
    ///   - body: the original body (readable bytes).
    ///   - inspection: the result of `JSONModelScanner.inspect(body)`.
    ///   - targetModel: the name the upstream expects.
    /// - Returns: a new buffer, or `body` itself when nothing changes.
    /// - Parameter makeBuffer: where the rewritten body goes, given the capacity it needs (a recycled buffer, or a
    ///   new one by default).
    public static func rewrite(
        _ body: ByteBuffer, inspection: JSONBodyInspection, targetModel: String,
        into makeBuffer: (_ capacity: Int) -> ByteBuffer = { ByteBufferAllocator().buffer(capacity: $0) }
    ) -> ByteBuffer {
        if inspection.model == targetModel && inspection.modelValueRanges.count == 1 {
            return body
        }
        // Room for the escaped name in the common case (nothing to escape); escapes only grow the buffer. Allocated
        // at that size: `ByteBuffer()` then `reserveCapacity` allocated twice.
        var output = makeBuffer(body.readableBytes + inspection.modelValueRanges.count * (targetModel.utf8.count + 2))
        var cursor = 0
        for range in inspection.modelValueRanges {
            output.writeImmutableBuffer(body.getSlice(at: body.readerIndex + cursor, length: range.lowerBound - cursor)!)
            output.writeJSONString(targetModel)
            cursor = range.upperBound
        }
        output.writeImmutableBuffer(body.getSlice(at: body.readerIndex + cursor, length: body.readableBytes - cursor)!)
        return output
    }
}
