import FOAPConfig
import Foundation
import NIOCore
import NIOHTTP1

/// The Responses API's WebSocket mode (`GET /v1/responses` upgraded): the upstream is chosen by the `model` of the
/// client's first `response.create` message, so foap answers the handshake itself, reads that message, opens the
/// upstream's socket with a handshake of its own, sends the message with its `model` rewritten (and the trailer of
/// a `previous_response_id` foap tagged removed, which pins the socket to that upstream), then tunnels the rest:
/// every later whole text message naming the same model gets the upstream's name for it too (one naming another
/// model, or one foap cannot read whole, is refused) and loses the trailers of ids foap handed out, the ids the
/// upstream's events hand out get its trailer (``SocketMessageRewriter``),
/// and everything else passes byte for byte.
/// Failures after the `101` are an `error` event and a close frame.
extension ProxyExchange {
    /// Answers the client's handshake and waits for its first message.
    func acceptResponsesSocket() {
        guard let key = self.head.headers.first(name: "sec-websocket-key")?.trimmingSpaces(), let owner = self.owner
        else { return }
        var headers = HTTPHeaders()
        headers.add(name: "Upgrade", value: "websocket")
        headers.add(name: "Connection", value: "Upgrade")
        headers.add(name: "Sec-WebSocket-Accept", value: WebSocketFraming.acceptValue(forKey: key))
        self.output.write(
            .head(HTTPResponseHead(version: .http1_1, status: .switchingProtocols, headers: headers)), promise: nil)
        self.record.status = 101
        let reader = FirstMessageReader(limit: self.engine.configuration.maxBodySize) { [self] event in
            self.firstMessageArrived(event)
        }
        do {
            try owner.exchangeBecomesTunnel(reader)
        } catch {
            self.context.channel.close(promise: nil)
            return
        }
        self.owner = nil
        self.speaksWebSocket = true
        self.context.channel.flush()
        self.context.channel.read()
    }

    private func firstMessageArrived(_ event: FirstMessageReader.Event) {
        guard !self.finished else { return }
        switch event {
        case .closed:
            self.perform(self.machine.clientClosed())
        case .violation(let reason):
            self.respond(error: .invalidSocketMessage(reason), close: true)
        case .message(let message, let wireBytes):
            self.record.bytesIn += wireBytes
            self.routeFirstMessage(message, wireBytes: wireBytes)
        }
    }

    /// The first message names the model (and may carry a `previous_response_id` foap tagged, which pins it).
    private func routeFirstMessage(_ message: ByteBuffer, wireBytes: Int) {
        let type = (try? JSONSerialization.jsonObject(with: Data(message.readableBytesView)) as? [String: Any])?["type"]
        guard type as? String == "response.create" else {
            self.respond(error: .invalidSocketMessage("the first message must be a response.create event"), close: true)
            return
        }
        var body = message
        var inspection: JSONBodyInspection
        do {
            inspection = try JSONModelScanner.inspect(body, requireModel: true)
        } catch {
            self.respond(error: error.openAIError, close: true)
            return
        }
        let path = WebSocketRoute.responses.endpointPath
        self.record.model = inspection.model
        guard self.clientMayUse(inspection.model), let model = self.engine.snapshot.model(inspection.model) else {
            self.respond(error: .modelNotFound(inspection.model), close: true)
            return
        }
        guard let endpoint = model.endpoint(for: path) else {
            self.respond(error: .routeNotServed(model: model.id, route: path), close: true)
            return
        }
        var pinned: Int?
        if let routing = self.engine.idRouting {
            let inbound = IDFieldRewriter.stripInbound(body, trailer: routing.trailer)
            guard !inbound.forged, inbound.tags.count <= 1 else {
                self.respond(error: .unknownID, close: true)
                return
            }
            if let tag = inbound.tags.first {
                guard let index = routing.upstream(tagged: tag, model: model, endpoint: endpoint) else {
                    self.respond(error: .idFromAnotherUpstream(model: model.id), close: true)
                    return
                }
                pinned = index
                if let stripped = inbound.body, let again = try? JSONModelScanner.inspect(stripped) {
                    (body, inspection) = (stripped, again)
                }
            }
        }
        guard let reader = try? self.context.pipeline.syncOperations.handler(type: FirstMessageReader.self) else {
            return
        }
        let opening = ResponsesOpening(message: body, inspection: inspection, wireBytes: wireBytes, reader: reader)
        self.admit(model: model.id, body: body, bodyBytes: body.readableBytes) {
            self.connectWebSocket(
                model: model, endpoint: endpoint, opening: .responses(opening), pinned: pinned, tried: .empty,
                attempts: 0)
        }
    }

    /// The upstream accepted foap's handshake: the first message goes up rewritten, then the tunnel carries the
    /// rest (what the client sent meanwhile first).
    func tunnel(
        _ head: HTTPResponseHead, to handshake: UpstreamSocketHandshake, after opening: ResponsesOpening,
        targetModel: String, tag: String?
    ) {
        guard head.headers.first(name: "sec-websocket-accept") == WebSocketFraming.acceptValue(forKey: opening.key),
            let upstream = handshake.channel
        else {
            handshake.close()
            self.respond(error: .upstreamFailed(model: self.record.model ?? "-"), close: true)
            return
        }
        self.machine.answeredLocally()
        self.record.upstreamStatus = head.status.code
        self.record.firstByteAt = .now()
        let (clientEnd, upstreamEnd) = self.makeTunnel()
        let limit = self.engine.configuration.maxBodySize
        var clientJobs: [SocketMessageRewriter.Job] = [.model(opening.inspection.model, targetModel: targetModel)]
        if let tag, let trailer = self.engine.idRouting?.trailer {
            clientJobs.append(.stripIDs(tag: tag, trailer: trailer))
            upstreamEnd.rewriter = SocketMessageRewriter([.tagIDs(tag: tag, trailer: trailer)], limit: limit)
        }
        clientEnd.rewriter = SocketMessageRewriter(clientJobs, limit: limit)
        let rewritten = JSONModelRewriter.rewrite(
            opening.message, inspection: opening.inspection, targetModel: targetModel)
        // Both ends are in place before any byte moves: what the upstream sent behind its 101 reaches the client
        // end as the decoder leaves.
        let held: ByteBuffer
        let codecGone: EventLoopFuture<Void>
        do {
            held = try opening.reader.handOver(to: clientEnd)
            codecGone = try handshake.becomeTunnel(upstreamEnd)
        } catch {
            self.tunnelFailed(handshake)
            return
        }
        let client = self.context.channel
        codecGone.assumeIsolated().whenComplete { result in
            guard case .success = result, !self.finished else {
                self.tunnelFailed(handshake)
                return
            }
            upstream.write(
                WebSocketFraming.clientFrame(.text, payload: rewritten, allocator: upstream.allocator), promise: nil)
            if held.readableBytes > 0 {
                // What the client sent behind its first message, through its end of the tunnel (counted there).
                client.pipeline.syncOperations.fireChannelRead(NIOAny(held))
                client.pipeline.syncOperations.fireChannelReadComplete()
            }
            upstream.flush()
            self.startTunnel(handshake)
        }
    }

    /// A failure after foap answered the handshake: an `error` event like the Responses API's own, then a close
    /// frame (1008 for the client's mistakes, 1011 for the upstream's), then the connection closes.
    func sendSocketError(_ error: OpenAIError) {
        guard !self.finished else { return }
        self.machine.answeredLocally()
        self.record.status = error.status.code
        self.record.error = self.record.error ?? error.code.rawValue
        let channel = self.context.channel
        channel.writeAndFlush(error.socketFrames(allocator: channel.allocator))
            .assumeIsolated().whenComplete { _ in channel.close(promise: nil) }
        self.finish(close: true)
    }
}
