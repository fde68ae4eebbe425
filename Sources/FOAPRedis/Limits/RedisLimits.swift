import NIOCore

/// Fleet-wide admission and settlement through ``FOAPLimitsLibrary``: one `FCALL` round trip each.
///
/// The library is loaded on every new connection (use ``configuration(_:)``) and again, followed by one retry,
/// when a call meets `ERR Function not found` (someone ran `FUNCTION FLUSH`, or Redis restarted without
/// persistence while this connection survived, as behind a proxy).
public struct RedisLimits: Sendable {
    public let client: RedisClient

    public init(client: RedisClient) {
        self.client = client
    }

    /// `base` with ``FOAPLimitsLibrary/load(on:)`` added to what runs on every new connection.
    public static func configuration(_ base: RedisConfiguration) -> RedisConfiguration {
        var configuration = base
        let previous = base.onConnect
        configuration.onConnect = { connection in
            let before = previous?(connection) ?? connection.eventLoop.makeSucceededVoidFuture()
            return before.flatMap { FOAPLimitsLibrary.load(on: connection) }
        }
        return configuration
    }

    /// Admits the check, all or nothing, or says which cell refused it and until when.
    public func admit(
        _ check: RedisAdmissionCheck,
        on eventLoop: (any EventLoop)? = nil
    ) -> EventLoopFuture<RedisAdmissionResult> {
        var arguments: [any RedisArgument] = [
            check.host, check.leaseID, check.estimatedTokens, check.declaredOutputTokens ?? -1,
        ]
        for cell in check.cells {
            arguments.append(cell.kind)
            arguments += cell.admitArguments(share: check.shares[cell]).map { $0 as any RedisArgument }
        }
        let keys = check.cells.map { $0.key(tag: check.tag) }
        return self.call(FOAPLimitsLibrary.admit, keys: keys, arguments: arguments, on: eventLoop)
            .flatMapThrowing { reply in try Self.admission(reply, check: check) }
    }

    /// Replaces the admission's token reservations by `actualTokens` (nil: the upstream never answered, refund all)
    /// and, with `releasing`, gives its concurrency leases back.
    public func settle(
        _ admission: RedisAdmission,
        of check: RedisAdmissionCheck,
        actualTokens: Int?,
        releasing: Bool = true,
        on eventLoop: (any EventLoop)? = nil
    ) -> EventLoopFuture<Void> {
        var keys: [String] = []
        var arguments: [any RedisArgument] = [check.host, check.leaseID, actualTokens.map { max(0, $0) } ?? -1]
        for state in admission.cells {
            let numbers: [Int]
            switch state.cell.limit {
            case .concurrency where releasing: numbers = [0, 0, 0]
            case .tokenRate(let period, let limit, _): numbers = [period, limit, state.units]
            case .budget: numbers = [state.units, Int(state.periodNumber), 0]
            case .concurrency, .requestRate: continue
            }
            keys.append(state.cell.key(tag: check.tag))
            arguments.append(state.cell.kind)
            arguments += numbers.map { $0 as any RedisArgument }
        }
        guard !keys.isEmpty else {
            return (eventLoop ?? self.client.connectionEventLoop(nil)).makeSucceededVoidFuture()
        }
        return self.call(FOAPLimitsLibrary.settle, keys: keys, arguments: arguments, on: eventLoop).map { _ in }
    }

    /// Extends the check's leases by `ttl` (a long stream calls this well before they expire). The reply says, per
    /// concurrency cell, whether the lease was still held; a lost one (expired, or Redis lost its data) is taken
    /// again, since the request really is still in flight.
    public func renew(
        _ check: RedisAdmissionCheck,
        ttl: TimeAmount,
        on eventLoop: (any EventLoop)? = nil
    ) -> EventLoopFuture<[Bool]> {
        let keys = check.cells.filter { if case .concurrency = $0.limit { true } else { false } }
            .map { $0.key(tag: check.tag) }
        guard !keys.isEmpty else {
            return (eventLoop ?? self.client.connectionEventLoop(nil)).makeSucceededFuture([])
        }
        let arguments: [any RedisArgument] = [check.leaseID, Int(ttl.nanoseconds / 1_000_000)]
        return self.call(FOAPLimitsLibrary.renew, keys: keys, arguments: arguments, on: eventLoop)
            .flatMapThrowing { reply in
                guard let held = reply.elements?.compactMap(\.integerValue), held.count == keys.count else {
                    throw RedisLimitsReplyError(function: FOAPLimitsLibrary.renew, reply: reply)
                }
                return held.map { $0 == 1 }
            }
    }

    /// Raises this host's share of each budget to at least `contribution` tokens in period `periodNumber` (its own
    /// record of what it spent), so a budget survives Redis losing its data. Periods that are over are skipped.
    /// - Returns: how many budgets were raised.
    public func seed(
        tag: String,
        host: String,
        budgets: [(cell: RedisLimitCell, periodNumber: Int64, contribution: Int)],
        on eventLoop: (any EventLoop)? = nil
    ) -> EventLoopFuture<Int> {
        var arguments: [any RedisArgument] = [host]
        for budget in budgets {
            arguments += [budget.cell.kind, budget.periodNumber, budget.contribution]
        }
        let keys = budgets.map { $0.cell.key(tag: tag) }
        return self.call(FOAPLimitsLibrary.seed, keys: keys, arguments: arguments, on: eventLoop)
            .map { Int($0.integerValue ?? 0) }
    }

    /// `FCALL`, loading the library and retrying once when Redis no longer has it.
    private func call(
        _ function: String,
        keys: [String],
        arguments: [any RedisArgument],
        on eventLoop: (any EventLoop)?
    ) -> EventLoopFuture<RESPValue> {
        let command = RedisCommand("FCALL", [function, keys.count] + keys + arguments)
        return self.client.connection(on: eventLoop).flatMap { connection in
            connection.send(command).flatMapError { error in
                guard case .server(let message) = error as? RedisError, message.contains("Function not found") else {
                    return connection.eventLoop.makeFailedFuture(error)
                }
                return FOAPLimitsLibrary.load(on: connection).flatMap { connection.send(command) }
            }
        }
    }

    private static func admission(_ reply: RESPValue, check: RedisAdmissionCheck) throws -> RedisAdmissionResult {
        let numbers = reply.elements?.compactMap(\.integerValue) ?? []
        let malformed = RedisLimitsReplyError(function: FOAPLimitsLibrary.admit, reply: reply)
        if numbers.first == 0, numbers.count == 7, (1...check.cells.count).contains(Int(numbers[1])) {
            return .refused(
                RedisRefusal(
                    cell: check.cells[Int(numbers[1]) - 1], used: Int(numbers[2]), requested: Int(numbers[3]),
                    retryAfter: numbers[4] < 0 ? nil : .microseconds(numbers[4]),
                    resetsAt: numbers[5] < 0 ? nil : numbers[5], neverFits: numbers[6] == 1
                )
            )
        }
        guard numbers.first == 1, numbers.count == 2 + 4 * check.cells.count else {
            throw malformed
        }
        let cells = check.cells.enumerated().map { index, cell in
            let base = 2 + 4 * index
            return RedisAdmission.CellState(
                cell: cell, units: Int(numbers[base]), remaining: Int(numbers[base + 1]),
                resetAfter: .microseconds(numbers[base + 2]), periodNumber: numbers[base + 3]
            )
        }
        return .admitted(RedisAdmission(nowMicros: numbers[1], cells: cells))
    }
}
