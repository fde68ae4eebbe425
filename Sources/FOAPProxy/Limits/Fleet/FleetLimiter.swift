import FOAPConfig
import FOAPLimits
import FOAPRedis
import Foundation
import Logging
import NIOCore

/// Admission for a whole fleet: one `FCALL` to Redis/Valkey per request, bounded by the timeout, behind a circuit
/// breaker. It never fails: a backend error or timeout answers `.unavailable` and the caller applies the fallback,
/// so a gateway never stops serving because Redis blinked.
final class FleetLimiter: Sendable {
    /// Redis's decision, in the proxy's terms.
    enum Decision: Sendable {
        case admitted(FleetGrant)
        case refused(Refusal)
        /// Redis did not decide (error, timeout, open circuit): apply the fallback.
        case unavailable
    }

    let settings: FleetLimitsSettings
    /// This host's name in Redis (budgets remember what each host spent): `FOAP_LIMITS_HOST_ID`, else the
    /// identity of the host's region, which lives exactly as long as the host's own record of its spend.
    let hostID: String
    private let limits: RedisLimits
    private let plan: FleetPlan
    private let health: FleetBackendHealth
    private let metrics: RequestMetrics
    private let logger: Logger

    /// Connects lazily, on `group`'s loops (the proxy's own), one connection per loop.
    /// - Parameter region: the host's shared region, for its own state of each scope (nil: none kept).
    init(
        settings: FleetLimitsSettings, keys: ClientKeys?, region: LimitsRegion?, group: any EventLoopGroup,
        metrics: RequestMetrics, logger: Logger
    ) throws {
        let hostID = settings.hostID.isEmpty ? Self.hostID(region: region) : settings.hostID
        let base = RedisConfiguration(
            url: settings.url, connectTimeout: max(settings.timeout * 8, .milliseconds(250)),
            commandTimeout: settings.timeout, clientName: "foap:\(ProcessInfo.processInfo.hostName):\(hostID)")
        self.limits = RedisLimits(client: try RedisClient(configuration: RedisLimits.configuration(base), group: group))
        self.settings = settings
        self.hostID = hostID
        self.plan = try FleetPlan(
            keys: keys ?? ClientKeys(file: "", keys: []), leaseTTL: settings.leaseTTL, region: region)
        self.health = FleetBackendHealth(
            threshold: settings.circuitFailures, coolDown: settings.circuitCoolDown, incident: settings.timeout)
        self.metrics = metrics
        self.logger = logger
    }

    func isLimited(_ key: String) -> Bool {
        self.plan.plan(key: key) != nil
    }

    /// Asks Redis; completes on `eventLoop` within the timeout.
    func admit(_ request: AdmissionRequest, on eventLoop: any EventLoop) -> EventLoopFuture<Decision> {
        guard let keyPlan = self.plan.plan(key: request.key) else {
            return eventLoop.makeSucceededFuture(.unavailable)
        }
        let cells = keyPlan.cells(model: request.model)
        if let known = FleetDenials.refusal(cells, request, now: LimitsClock.now()) {
            return eventLoop.makeSucceededFuture(.refused(known))
        }
        guard self.health.mayAsk(now: .now()) else {
            self.metrics.limitsBackendRequest(result: "circuit_open")
            return eventLoop.makeSucceededFuture(.unavailable)
        }
        let check = RedisAdmissionCheck(
            tag: keyPlan.tag, host: self.hostID, leaseID: UUID().uuidString,
            estimatedTokens: request.estimatedTokens, declaredOutputTokens: request.declaredOutputTokens,
            cells: cells.map(\.redis), shares: FleetContributions.shares(cells))
        let promise = eventLoop.makePromise(of: Decision.self)
        let done = NIOLoopBoundBox(false, eventLoop: eventLoop)
        let timer = eventLoop.scheduleTask(in: self.settings.timeout) {
            guard !done.value else { return }
            done.value = true
            self.failed(result: "timeout", error: "no answer within \(self.settings.timeout.nanoseconds / 1_000_000)ms")
            promise.succeed(.unavailable)
        }
        let asked = NIODeadline.now()
        self.limits.admit(check, on: eventLoop).hop(to: eventLoop).whenComplete { result in
            timer.cancel()
            if case .success = result {
                self.metrics.limitsBackendAnswered(after: (NIODeadline.now() - asked).nanoseconds)
            }
            guard !done.value else {
                // Too late: the fallback already answered. Give back whatever Redis took.
                // (Not recorded as this host's spend, so not unrecorded either.)
                if case .success(.admitted(let admission)) = result {
                    self.giveBack(admission, of: check, actualTokens: nil, on: eventLoop)
                }
                return
            }
            done.value = true
            switch result {
            case .success(let answer):
                self.metrics.limitsBackendRequest(result: "ok")
                if self.health.succeeded() == .recovered {
                    self.logger.notice("limits backend answering again", metadata: ["redis": "\(self.settings.url)"])
                }
                promise.succeed(Self.decision(answer, check: check, cells: cells, trust: self.settings.refusalTrust))
            case .failure(let error):
                let timedOut = (error as? RedisError).map { if case .timeout = $0 { true } else { false } } ?? false
                self.failed(result: timedOut ? "timeout" : "error", error: "\(error)")
                promise.succeed(.unavailable)
            }
        }
        return promise.futureResult
    }

    /// Replaces the reservations by the real count and gives the leases back; a failure only costs the leases'
    /// TTL (they expire) and the reservation (kept as spent), never an error to the client.
    func settle(_ grant: FleetGrant, actualTokens: Int?, on eventLoop: any EventLoop) {
        let charged = FleetContributions.settling(grant, actualTokens: actualTokens)
        self.giveBack(grant.admission, of: grant.check, actualTokens: actualTokens, on: eventLoop)
            .whenSuccess(charged)
    }

    @discardableResult
    private func giveBack(
        _ admission: RedisAdmission, of check: RedisAdmissionCheck, actualTokens: Int?, on eventLoop: any EventLoop
    ) -> EventLoopFuture<Void> {
        let settled = self.limits.settle(admission, of: check, actualTokens: actualTokens, on: eventLoop)
        settled.whenFailure { error in
            self.metrics.limitsBackendRequest(result: "error")
            self.logger.debug("limits settlement failed", metadata: ["error": "\(error)"])
        }
        return settled
    }

    /// Keeps a long request's leases alive; one that had expired is taken again.
    func renew(_ check: RedisAdmissionCheck, on eventLoop: any EventLoop) {
        self.limits.renew(check, ttl: self.settings.leaseTTL, on: eventLoop).whenFailure { error in
            self.metrics.limitsBackendRequest(result: "error")
            self.logger.debug("limits lease renewal failed", metadata: ["error": "\(error)"])
        }
    }

    func fellBack() {
        self.metrics.limitsBackendFallback(mode: self.settings.fallback.rawValue)
    }

    func shutdown() -> EventLoopFuture<Void> {
        self.limits.client.shutdown()
    }

    private func failed(result: String, error: String) {
        self.metrics.limitsBackendRequest(result: result)
        if case .failing(let count) = self.health.failed(now: .now()) {
            self.logger.warning(
                "limits backend unavailable, using the fallback",
                metadata: [
                    "redis": "\(self.settings.url)", "error": .string(error),
                    "fallback": .string(self.settings.fallback.rawValue), "failures": .stringConvertible(count),
                ])
        }
    }

    /// The region's identity in hex; without a region (no key has limits: nothing to remember), the process's.
    private static func hostID(region: LimitsRegion?) -> String {
        guard let region else { return "\(ProcessInfo.processInfo.hostName)-\(getpid())" }
        return String(region.hostIdentity, radix: 16)
    }

    private static func decision(
        _ answer: RedisAdmissionResult, check: RedisAdmissionCheck, cells: [FleetCell], trust: TimeAmount
    ) -> Decision {
        switch answer {
        case .admitted(let admission):
            let statuses = FleetMapping.statuses(admission, cells: cells)
            let grant = FleetGrant(
                check: check, admission: admission, cells: cells, requests: statuses.requests, tokens: statuses.tokens)
            FleetContributions.admitted(grant)
            return .admitted(grant)
        case .refused(let refused):
            FleetDenials.keep(refused, cells: cells, now: LimitsClock.now(), trust: trust)
            return FleetMapping.refusal(refused, cells: cells).map { .refused($0) } ?? .unavailable
        }
    }
}
