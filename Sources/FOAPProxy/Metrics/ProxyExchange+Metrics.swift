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
        let answered = NIOLockedValueBox(false)
        let timeout = loop.scheduleTask(in: self.engine.configuration.metricsTimeout) {
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
        code: "metrics_unavailable",
        message: "The master did not answer with the metrics in time; retry the scrape."
    )
}

/// The Prometheus text as OpenMetrics 1.0, for scrapers that ask for it (`Accept: application/openmetrics-text`):
/// a counter family is named without its `_total` suffix (the samples keep it), and the text ends with `# EOF`.
enum OpenMetrics {
    static func convert(_ text: String) -> String {
        var counters: Set<Substring> = []
        for line in text.split(separator: "\n") where line.hasPrefix("# TYPE ") && line.hasSuffix(" counter") {
            counters.insert(line.dropFirst(7).prefix { $0 != " " })
        }
        var output = ""
        output.reserveCapacity(text.utf8.count + 8)
        for line in text.split(separator: "\n") {
            if line.hasPrefix("# HELP ") || line.hasPrefix("# TYPE ") {
                let kind = line.prefix(7)
                let name = line.dropFirst(7).prefix { $0 != " " }
                if counters.contains(name), name.hasSuffix("_total") {
                    output += kind + name.dropLast(6) + line.dropFirst(7 + name.count) + "\n"
                    continue
                }
            }
            output += line + "\n"
        }
        return output + "# EOF\n"
    }
}
