import NIOCore
import NIOHTTP1

/// Answers malformed HTTP with an OpenAI-shaped 400 and closes the connection: after a parse error the byte
/// stream cannot be trusted to find the next request. (NIO's own `HTTPServerProtocolErrorHandler` does the same
/// with an empty body.)
final class ProtocolErrorHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private var responseInProgress = false

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        guard error is HTTPParserError else {
            context.fireErrorCaught(error)
            return
        }
        if !self.responseInProgress {
            let failure = OpenAIError.malformedHTTP
            let body = failure.body(allocator: context.channel.allocator)
            var headers = failure.headers(forBody: body)
            headers.add(name: "Connection", value: "close")
            let head = HTTPResponseHead(version: .http1_1, status: .badRequest, headers: headers)
            context.write(self.wrapOutboundOut(.head(head)), promise: nil)
            context.write(self.wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
            context.writeAndFlush(self.wrapOutboundOut(.end(nil)), promise: nil)
        }
        context.close(promise: nil)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch self.unwrapOutboundIn(data) {
        case .head(let head) where head.status.code >= 200: self.responseInProgress = true
        case .end: self.responseInProgress = false
        default: break
        }
        context.write(data, promise: promise)
    }
}

@available(*, unavailable)
extension ProtocolErrorHandler: Sendable {}
