import FOAPConfig
import Foundation
import NIOCore
import NIOHTTP1

/// WebSocket routes. `GET /v1/realtime?model=…`: the opening handshake goes to the model's upstream with its model
/// name and key, and on its `101` both connections become one tunnel whose frames pass untouched. `GET
/// /v1/responses` upgraded (the Responses API's WebSocket mode): foap answers the handshake itself, reads the first
/// `response.create` message for its `model`, opens the upstream's socket, sends that message rewritten, and
/// tunnels the rest. The exchange lives as long as the socket: its record (bytes each way, duration) and its
/// admission (a concurrency slot held until the socket closes) end when the tunnel does.
extension ProxyExchange {
    /// How an upstream socket is opened, and what happens on its `101`.
    enum SocketOpening {
        case realtime
        /// The first message, as the client sent it, and where the rest of the client's bytes wait.
        case responses(ResponsesOpening)
    }

    final class ResponsesOpening {
        let message: ByteBuffer
        let inspection: JSONBodyInspection
        let wireBytes: Int
        let reader: FirstMessageReader
        /// The key foap sends upstream (the client's was answered by foap).
        let key = WebSocketFraming.makeKey()

        init(message: ByteBuffer, inspection: JSONBodyInspection, wireBytes: Int, reader: FirstMessageReader) {
            self.message = message
            self.inspection = inspection
            self.wireBytes = wireBytes
            self.reader = reader
        }
    }

    func openWebSocket(_ socket: WebSocketRoute) {
        guard WebSocketHandshake.isUpgrade(self.head.httpRequestHead) else {
            self.respond(error: .webSocketUpgradeRequired(route: socket.endpointPath), close: true)
            return
        }
        switch socket {
        case .realtime:
            guard let id = self.modelHint else {
                self.respond(error: .webSocketModelMissing(route: socket.endpointPath), close: true)
                return
            }
            guard let (model, endpoint) = self.resolve(model: id, on: socket.endpointPath) else { return }
            self.admit(model: model.id, body: nil, bodyBytes: 0) {
                self.connectWebSocket(model: model, endpoint: endpoint, opening: .realtime, tried: .empty, attempts: 0)
            }
        case .responses:
            self.acceptResponsesSocket()
        }
    }

    /// Opens the upstream socket on an upstream of the pool not tried yet (or the one a pinned id names); a
    /// connect failure tries the next one (nothing has reached the upstream), as many times as the pool's policy
    /// allows a request.
    func connectWebSocket(
        model: ModelConfig, endpoint: EndpointConfig, opening: SocketOpening, pinned: Int? = nil,
        tried: UpstreamSet, attempts: Int
    ) {
        guard !self.finished else { return }
        guard let index = pinned ?? self.pickUpstream(model: model.id, endpoint: endpoint, excluding: tried) else {
            self.respond(error: .noHealthyUpstream(model: model.id, route: endpoint.path), close: true)
            return
        }
        var tried = tried
        tried.insert(index)
        let upstream = endpoint.upstreams[index]
        self.record.provider = upstream.provider ?? model.provider.name
        self.record.targetModel = upstream.targetModelName
        self.record.upstream = upstream.baseURL
        self.record.attempts += 1
        let apiKey: String?
        switch model.credential(of: upstream) {
        case .none: apiKey = nil
        case .key(let key): apiKey = key
        case .missing(let variable):
            self.respond(
                error: .credentialMissing(provider: upstream.provider ?? model.provider.name, variable: variable),
                close: true)
            return
        }
        guard let target = SocketTarget(url: endpoint.upstreamURL(index)),
            !target.usesTLS || self.engine.socketTLS != nil
        else {
            self.respond(error: .upstreamFailed(model: self.record.model ?? "-"), close: true)
            return
        }
        let request = self.upstreamHandshake(
            opening, target: target, targetModel: upstream.targetModelName, apiKey: apiKey,
            authHeader: model.authHeader(of: upstream))
        let tls = target.usesTLS ? self.engine.socketTLS.map { ($0, serverName: target.serverName) } : nil
        let eventLoop = self.context.eventLoop
        // The handshake (connect, TLS, the upstream's answer) is bounded by the endpoint's request timeout.
        let seconds = endpoint.requestTimeout
        var timedOut = false
        let timer = eventLoop.assumeIsolated().scheduleTask(in: .nanoseconds(Int64(seconds * 1_000_000_000))) {
            timedOut = true
            self.noteAttemptError(upstream.baseURL + " timeout")
            self.respond(error: .upstreamTimeout(model: self.record.model ?? "-", seconds: seconds), close: true)
        }
        UpstreamSocketHandshake.open(
            host: target.endpoint.host, port: target.endpoint.port, tls: tls, request: request,
            connectTimeout: self.engine.configuration.upstream.connectTimeout, on: eventLoop
        ).assumeIsolated().whenComplete { result in
            timer.cancel()
            switch result {
            case .success(.upgraded(let head, let handshake)):
                guard !self.finished, !timedOut else {
                    handshake.close()
                    return
                }
                switch opening {
                case .realtime:
                    self.tunnel(head, to: handshake)
                case .responses(let responses):
                    self.tunnel(
                        head, to: handshake, after: responses, targetModel: upstream.targetModelName,
                        tag: self.engine.idRouting?.tag(model: model, endpoint: endpoint, upstream: index))
                }
            case .success(.refused(let head, let body)):
                guard !self.finished, !timedOut else { return }
                self.relayRefusal(head, body: body)
            case .failure:
                guard !self.finished, !timedOut else { return }
                self.noteAttemptError(upstream.baseURL + " upstream_unreachable")
                let mayRetry = pinned == nil && endpoint.upstreams.count > 1
                    && attempts + 1 < endpoint.policy.maximumAttempts(upstreamCount: endpoint.upstreams.count)
                if mayRetry {
                    self.connectWebSocket(
                        model: model, endpoint: endpoint, opening: opening, tried: tried, attempts: attempts + 1)
                } else if pinned != nil {
                    self.respond(error: .pinnedUpstreamUnavailable(model: self.record.model ?? "-"), close: true)
                } else {
                    self.respond(error: .upstreamUnreachable(model: self.record.model ?? "-"), close: true)
                }
            }
        }
    }

    private func upstreamHandshake(
        _ opening: SocketOpening, target: SocketTarget, targetModel: String, apiKey: String?,
        authHeader: UpstreamAuthHeader
    ) -> HTTPRequestHead {
        switch opening {
        case .realtime:
            return WebSocketHandshake.upstreamHead(
                client: self.head.httpRequestHead,
                target: target.endpoint.path
                    + WebSocketHandshake.upstreamQuery(of: self.head.uri, targetModel: targetModel),
                hostHeader: target.endpoint.hostHeader, apiKey: apiKey, authHeader: authHeader)
        case .responses(let responses):
            // foap answered the client's handshake: the upstream's is foap's own, with no extension or protocol
            // (frames written by foap and the client's later frames must mean the same to it).
            var head = WebSocketHandshake.upstreamHead(
                client: self.head.httpRequestHead,
                target: target.endpoint.path + (HeaderPolicy.upstreamQuery(of: self.head.uri).map(String.init) ?? ""),
                hostHeader: target.endpoint.hostHeader, apiKey: apiKey, authHeader: authHeader)
            head.headers.replaceOrAdd(name: "Sec-WebSocket-Key", value: responses.key)
            head.headers.remove(name: "sec-websocket-extensions")
            head.headers.remove(name: "sec-websocket-protocol")
            return head
        }
    }

    /// The upstream's `101` goes to the client, and both connections become the tunnel.
    private func tunnel(_ head: HTTPResponseHead, to handshake: UpstreamSocketHandshake) {
        self.machine.answeredLocally()
        self.record.status = head.status.code
        self.record.upstreamStatus = head.status.code
        self.record.firstByteAt = .now()
        let (clientEnd, upstreamEnd) = self.makeTunnel()
        // Sec-WebSocket-Accept answers the client's own key, which the upstream got unchanged.
        let response = HTTPResponseHead(version: .http1_1, status: .switchingProtocols, headers: head.headers)
        self.output.write(.head(response), promise: nil)
        do {
            guard let owner = self.owner else { throw UpstreamSocketClosedError() }
            try owner.exchangeBecomesTunnel(clientEnd)
            self.owner = nil
            try handshake.becomeTunnel(upstreamEnd)
        } catch {
            self.tunnelFailed(handshake)
            return
        }
        self.startTunnel(handshake)
    }

    func makeTunnel() -> (client: SocketSpliceHandler, upstream: SocketSpliceHandler) {
        let tunnel = SocketTunnel(metrics: self.engine.metrics) { [self] tunnel in
            self.socketEnded(tunnel)
        }
        return SocketSpliceHandler.pair(for: tunnel)
    }

    func tunnelFailed(_ handshake: UpstreamSocketHandshake) {
        self.record.error = "tunnel_failed"
        handshake.close()
        self.context.channel.close(promise: nil)
        self.finish(close: true)
    }

    func startTunnel(_ handshake: UpstreamSocketHandshake) {
        // Through the channel: this exchange's context belonged to the handler that just left the pipeline.
        let client = self.context.channel
        client.flush()
        // Frames the upstream sent behind its 101 are handed on when its decoder leaves, in a task of their own,
        // with no read-complete after them: flushed by the task queued behind it.
        client.eventLoop.assumeIsolated().execute { client.flush() }
        client.read()
        handshake.channel?.read()
    }

    /// Any other answer to the handshake (a 401 for a bad key, a 404 for an unknown model) reaches the client as
    /// it came, and the connection closes: after an upgrade request, the client's bytes are not HTTP any more.
    func relayRefusal(_ head: HTTPResponseHead, body: ByteBuffer) {
        self.record.upstreamStatus = head.status.code
        if self.speaksWebSocket {
            // The client has its 101: the refusal becomes an error event with the upstream's status.
            let message = String(buffer: body).prefix(512)
            self.respond(error: .upstreamRefusedSocket(status: head.status, message: String(message)), close: true)
            return
        }
        self.machine.answeredLocally()
        self.record.status = head.status.code
        var headers = HeaderPolicy.downstreamHeaders(from: head.headers)
        headers.remove(name: "content-length")
        headers.add(name: "Content-Length", value: String(body.readableBytes))
        self.writeWhole(head: self.makeResponseHead(status: head.status, headers: headers, close: true), body: body,
                        close: true)
    }

    private func socketEnded(_ tunnel: SocketTunnel) {
        self.record.bytesIn += tunnel.clientBytes
        self.record.bytesOut += tunnel.upstreamBytes
        if let refusal = tunnel.error as? SocketMessageRewriter.Refusal {
            self.record.error = self.record.error ?? refusal.error.code.rawValue
        } else if tunnel.error != nil {
            self.record.error = self.record.error ?? (tunnel.endedBy == .upstream ? "upstream_reset" : "client_reset")
        }
        self.finish(close: true)
    }
}
