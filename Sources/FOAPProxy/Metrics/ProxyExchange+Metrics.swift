import FOAPMetrics
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1

extension ProxyExchange {
    /// `GET /metrics`: the Prometheus text of every worker (from the master), or this process's own when it runs
    /// alone (`--workers 0`).
    func answerMetrics() {
        guard let source = self.engine.metricsSource else {
            self.respondMetrics(self.engine.metrics.render() ?? "")
            return
        }
        let loop = self.context.eventLoop
        // Whichever comes first, the reply or the timeout, answers; the other finds the scrape answered.
        let answered = NIOLockedValueBox(false)
        let claim: @Sendable () -> Bool = { answered.withLockedValue { done in defer { done = true }; return !done } }
        let timeout = loop.scheduleTask(in: self.engine.configuration.metricsTimeout) {
            guard claim() else { return }
            self.respond(error: .metricsUnavailable)
        }
        // `self` is loop-bound: the reply (from the worker channel's thread) hops back to the loop first.
        let exchange = NIOLoopBound(self, eventLoop: loop)
        source { text in
            loop.execute {
                guard claim() else { return }
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
        let openMetrics = self.head.headers["accept"].contains { $0.contains("application/openmetrics-text") }
        var body = ByteBuffer()
        body.writeString(openMetrics ? OpenMetrics.convert(text) : text)
        var headers = HTTPHeaders()
        headers.add(
            name: "Content-Type",
            value: openMetrics
                ? "application/openmetrics-text; version=1.0.0; charset=utf-8" : "text/plain; version=0.0.4; charset=utf-8"
        )
        headers.add(name: "Content-Length", value: String(body.readableBytes))
        self.record.status = 200
        self.writeWhole(head: self.makeResponseHead(status: .ok, headers: headers), body: body, close: false)
    }
}

extension OpenAIError {
    static let metricsUnavailable = OpenAIError(
        status: .serviceUnavailable,
        type: "server_error",
        code: .metricsUnavailable,
        message: "The master did not answer with the metrics in time; retry the scrape."
    )
}
