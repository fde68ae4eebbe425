import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1

extension ProxyExchange {
    /// How long a scrape waits for the master's sum before it is answered 503.
    static let metricsTimeout = TimeAmount.seconds(2)

    /// `GET /metrics`: the Prometheus text of every worker (from the master), or this process's own when it runs
    /// alone (`--workers 0`).
    func answerMetrics() {
        guard let source = self.engine.metricsSource else {
            self.respondMetrics(self.engine.metrics.render() ?? "")
            return
        }
        let loop = self.context.eventLoop
        let answered = NIOLockedValueBox(false)
        let timeout = loop.scheduleTask(in: Self.metricsTimeout) {
            guard answered.withLockedValue({ let first = !$0; $0 = true; return first }) else { return }
            self.respond(error: .metricsUnavailable)
        }
        // `self` is loop-bound: the reply (from the control channel's thread) hops back to the loop first.
        let exchange = NIOLoopBound(self, eventLoop: loop)
        source { text in
            loop.execute {
                guard answered.withLockedValue({ let first = !$0; $0 = true; return first }) else { return }
                timeout.cancel()
                if let text {
                    exchange.value.respondMetrics(text)
                } else {
                    exchange.value.respond(error: .metricsUnavailable)
                }
            }
        }
    }

    private func respondMetrics(_ text: String) {
        var body = ByteBuffer()
        body.writeString(text)
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "text/plain; version=0.0.4; charset=utf-8")
        headers.add(name: "Content-Length", value: String(body.readableBytes))
        self.record.status = 200
        self.writeWhole(head: self.makeResponseHead(status: .ok, headers: headers), body: body, close: false)
    }
}

extension OpenAIError {
    static let metricsUnavailable = OpenAIError(
        status: .serviceUnavailable,
        type: "server_error",
        code: "metrics_unavailable",
        message: "The master did not answer with the metrics in time; retry the scrape."
    )
}
