import NIOCore

/// The Redis Functions library that makes one Redis the limits authority of a whole fleet: each function decides
/// or settles one check in a single atomic round trip, on Redis's own clock (`TIME`), so hosts with skewed clocks
/// still agree.
///
/// It mirrors `FOAPLimits` (GCRA with burst, UTC calendar budgets, never-fits, the longest refusal wins, token
/// reservations capped at a limit's size) with two changes for a fleet: times are microseconds (Lua numbers are
/// doubles, exact to 2^53), and concurrency is a sorted set of leases that expire, so a dead host's slots come back
/// by themselves. Budgets keep each host's contribution in its own hash field, so a host can re-seed what it spent
/// (`seed`) when Redis lost its data, and a budget never goes backwards.
///
/// Keys and arguments, four per key (see ``RedisLimits`` for the Swift side):
/// - `foap_v1_admit`: ARGV host, lease, estimatedTokens, declaredOutput (-1: none), then per key kind,n1,n2,n3 with
///   `c` limit,ttlMs · `rq`/`rt` periodSeconds,limit,burst · `bd`/`bw`/`bm` tokens,sharePeriod,shareTokens (what the
///   host knows it spent: its field is raised to that first, as `seed` does; 0,0 for none — the library's first
///   callers sent zeros there, so hosts of either kind may share one Redis). Replies
///   `{1, nowMicros, per key: units, remaining, resetAfterMicros, periodNumber}` or
///   `{0, keyIndex, used, requested, retryAfterMicros (-1: never), resetsAtSeconds (-1), neverFits}`.
/// - `foap_v1_settle`: ARGV host, lease, actualTokens (-1: none), then per key `c` (release the lease) ·
///   `rt` periodSeconds,limit,reservedUnits · `bd`/`bw`/`bm` reservedUnits,reservedPeriod.
/// - `foap_v1_renew`: ARGV lease, ttlMs; replies per key 1 (held) or 0 (it had been lost and is taken again).
/// - `foap_v1_seed`: ARGV host, then per key kind,periodNumber,contribution; replies how many were raised.
public enum FOAPLimitsLibrary {
    /// Bumped with any change of behaviour or arguments: function names are global in Redis, so they carry it too.
    public static let name = "foap_limits_v1"
    public static let admit = "foap_v1_admit"
    public static let settle = "foap_v1_settle"
    public static let renew = "foap_v1_renew"
    public static let seed = "foap_v1_seed"

    /// `FUNCTION LOAD REPLACE`: idempotent, so every new connection (and any call that met
    /// `ERR Function not found` after a `FUNCTION FLUSH` or a restart without persistence) may run it.
    public static func load(on connection: RedisConnection) -> EventLoopFuture<Void> {
        connection.send(RedisCommand("FUNCTION", "LOAD", "REPLACE", Self.source)).map { _ in }
    }

    public static let source = """
        #!lua name=foap_limits_v1

        local function now_us()
          local t = redis.call('TIME')
          return tonumber(t[1]) * 1000000 + tonumber(t[2])
        end

        -- Integers as decimal strings: tostring would print 16 digits as 1.7e+15.
        local function fmt(n) return string.format('%.0f', n) end
        local function floordiv(a, b) return math.floor(a / b) end

        -- The UTC calendar of FOAPLimits' UTCCalendar (Howard Hinnant's civil_from_days and days_from_civil).
        local function civil(days)
          local z = days + 719468
          local era = floordiv(z, 146097)
          local doe = z - era * 146097
          local yoe = floordiv(doe - floordiv(doe, 1460) + floordiv(doe, 36524) - floordiv(doe, 146096), 365)
          local doy = doe - (365 * yoe + floordiv(yoe, 4) - floordiv(yoe, 100))
          local mp = floordiv(5 * doy + 2, 153)
          local m = mp < 10 and mp + 3 or mp - 9
          return yoe + era * 400 + (m <= 2 and 1 or 0), m
        end

        local function days_from_civil(y, m, d)
          if m <= 2 then y = y - 1 end
          local era = floordiv(y, 400)
          local yoe = y - era * 400
          local doy = floordiv(153 * (m > 2 and m - 3 or m + 9) + 2, 5) + d - 1
          return era * 146097 + yoe * 365 + floordiv(yoe, 4) - floordiv(yoe, 100) + doy - 719468
        end

        local function period_number(kind, sec)
          local day = floordiv(sec, 86400)
          if kind == 'bd' then return day end
          if kind == 'bw' then return floordiv(day + 3, 7) end
          local y, m = civil(day)
          return (y - 1970) * 12 + (m - 1)
        end

        local function period_start(kind, number)
          if kind == 'bd' then return number * 86400 end
          if kind == 'bw' then return (number * 7 - 3) * 86400 end
          local y = 1970 + floordiv(number, 12)
          return days_from_civil(y, number - floordiv(number, 12) * 12 + 1, 1) * 86400
        end

        local function is_budget(kind) return kind == 'bd' or kind == 'bw' or kind == 'bm' end

        -- GCRA, as FOAPLimits' RateMath: increments round up, the tolerance rounds down.
        local function inc(units, period, limit) return math.ceil(units * period / limit) end
        local function tolerance(period, limit, burst) return math.floor(burst * period / limit) end
        local function remaining(tat, now, period, limit, burst)
          local free = tolerance(period, limit, burst) - math.max(0, tat - now)
          if free <= 0 then return 0 end
          return math.min(burst, math.floor(free * limit / period))
        end

        local function cells(keys, args, first)
          local list = {}
          for i = 1, #keys do
            local base = first + (i - 1) * 4
            list[i] = {key = keys[i], kind = args[base], n1 = tonumber(args[base + 1]),
                       n2 = tonumber(args[base + 2]), n3 = tonumber(args[base + 3])}
          end
          return list
        end

        -- A budget hash: p = its period number, h:<host> = what that host spent in it.
        local function budget_state(key, number)
          local fields = redis.call('HGETALL', key)
          local stored, used = nil, 0
          for j = 1, #fields, 2 do
            if fields[j] == 'p' then stored = tonumber(fields[j + 1])
            elseif string.sub(fields[j], 1, 2) == 'h:' then used = used + tonumber(fields[j + 1]) end
          end
          return stored, used
        end

        local function keep_until(key, ttl_ms)
          if redis.call('PTTL', key) < ttl_ms then redis.call('PEXPIRE', key, ttl_ms) end
        end

        -- Raises this host's part of a budget to what it knows it spent in period `number`, when that is the
        -- current one and Redis has less (it lost its data, or the key moved): a budget never goes backwards.
        local function raise_own(key, kind, number, contribution, host, sec)
          if contribution <= 0 or number ~= period_number(kind, sec) then return 0 end
          local stored = tonumber(redis.call('HGET', key, 'p'))
          if stored and stored > number then return 0 end
          if not stored or stored < number then
            redis.call('DEL', key)
            redis.call('HSET', key, 'p', fmt(number))
          end
          local own = tonumber(redis.call('HGET', key, 'h:' .. host)) or 0
          if own >= contribution then return 0 end
          redis.call('HSET', key, 'h:' .. host, fmt(contribution))
          redis.call('PEXPIREAT', key, fmt(period_start(kind, number + 1) * 1000 + 3600000))
          return 1
        end

        -- Checks one cell without writing (but for restoring the host's own budget share): a plan, or a refusal.
        local function check(cell, now, sec, estimate, host)
          if cell.kind == 'c' then
            redis.call('ZREMRANGEBYSCORE', cell.key, '-inf', fmt(now))  -- expired leases: their hosts are gone
            local count = redis.call('ZCARD', cell.key)
            if count >= cell.n1 then return nil, {0, 0, count, 1, 1000000, -1, 0} end
            return {count = count}
          elseif cell.kind == 'rq' or cell.kind == 'rt' then
            local period, limit, burst = cell.n1 * 1000000, cell.n2, cell.n3
            local units = cell.kind == 'rq' and 1 or math.min(estimate, burst)
            local tat = tonumber(redis.call('GET', cell.key)) or 0
            local base = math.max(tat, now)
            local ahead = base + inc(math.max(units, 1), period, limit) - now
            local tol = tolerance(period, limit, burst)
            if ahead > tol then
              return nil, {0, 0, burst - remaining(tat, now, period, limit, burst), units, ahead - tol, -1, 0}
            end
            return {units = units, tat = base + inc(units, period, limit)}
          else
            local tokens = cell.n1
            local units = math.min(estimate, tokens)
            raise_own(cell.key, cell.kind, cell.n2, cell.n3, host, sec)
            local number = period_number(cell.kind, sec)
            local stored, used = budget_state(cell.key, number)
            if stored and stored > number then number = stored end  -- never roll a budget back
            if stored ~= number then used = 0 end
            local reset = period_start(cell.kind, number + 1)
            if used + math.max(units, 1) > tokens then
              return nil, {0, 0, used, units, reset * 1000000 - now, reset, 0}
            end
            return {units = units, number = number, fresh = stored ~= number, used = used, reset = reset}
          end
        end

        local function take(cell, plan, now, host, lease)
          if cell.kind == 'c' then
            redis.call('ZADD', cell.key, fmt(now + cell.n2 * 1000), lease)
            keep_until(cell.key, cell.n2 + 1000)
            return {1, cell.n1 - plan.count - 1, cell.n2 * 1000, 0}
          elseif cell.kind == 'rq' or cell.kind == 'rt' then
            local period, limit, burst = cell.n1 * 1000000, cell.n2, cell.n3
            redis.call('SET', cell.key, fmt(plan.tat), 'PX', math.max(1, math.ceil((plan.tat - now) / 1000)) + 1000)
            return {plan.units, remaining(plan.tat, now, period, limit, burst), math.max(0, plan.tat - now), 0}
          else
            if plan.fresh then
              redis.call('DEL', cell.key)
              redis.call('HSET', cell.key, 'p', fmt(plan.number))
            end
            redis.call('HINCRBY', cell.key, 'h:' .. host, plan.units)
            redis.call('PEXPIREAT', cell.key, fmt(plan.reset * 1000 + 3600000))
            return {plan.units, cell.n1 - plan.used - plan.units, plan.reset * 1000000 - now, plan.number}
          end
        end

        local function admit(keys, args)
          if #args ~= 4 + 4 * #keys then return redis.error_reply('ERR foap_v1_admit: 4 + 4 per key arguments') end
          local host, lease, estimate, declared = args[1], args[2], tonumber(args[3]), tonumber(args[4])
          local list = cells(keys, args, 5)
          if declared >= 0 then
            for i, cell in ipairs(list) do
              local capacity = (cell.kind == 'rt' and cell.n3) or (is_budget(cell.kind) and cell.n1) or nil
              if capacity and declared > capacity then return {0, i, 0, declared, -1, -1, 1} end
            end
          end
          local now = now_us()
          local sec = floordiv(now, 1000000)
          local plans, refusal = {}, nil
          for i, cell in ipairs(list) do
            local plan, refused = check(cell, now, sec, estimate, host)
            if refused then
              refused[2] = i
              if not refusal or refused[5] > refusal[5] then refusal = refused end
            end
            plans[i] = plan
          end
          if refusal then return refusal end
          local reply = {1, now}
          for i, cell in ipairs(list) do
            for _, value in ipairs(take(cell, plans[i], now, host, lease)) do reply[#reply + 1] = value end
          end
          return reply
        end

        local function settle(keys, args)
          if #args ~= 3 + 4 * #keys then return redis.error_reply('ERR foap_v1_settle: 3 + 4 per key arguments') end
          local host, lease, actual = args[1], args[2], math.max(0, tonumber(args[3]))
          local now = now_us()
          local sec = floordiv(now, 1000000)
          for _, cell in ipairs(cells(keys, args, 4)) do
            if cell.kind == 'c' then
              redis.call('ZREM', cell.key, lease)
            elseif cell.kind == 'rt' then
              local period, limit = cell.n1 * 1000000, cell.n2
              local delta = inc(actual, period, limit) - inc(cell.n3, period, limit)
              local tat = tonumber(redis.call('GET', cell.key))
              if delta < 0 and tat then
                -- A refund moves the stored TAT back: a bucket that is already full gains no credit.
                if tat + delta <= now then redis.call('DEL', cell.key)
                else redis.call('SET', cell.key, fmt(tat + delta), 'KEEPTTL') end
              elseif delta > 0 then
                local moved = math.max(tat or 0, now) + delta
                redis.call('SET', cell.key, fmt(moved), 'PX', math.ceil((moved - now) / 1000) + 1000)
              end
            elseif is_budget(cell.kind) then
              local delta = actual - cell.n1
              local target = period_number(cell.kind, sec)
              local stored = tonumber(redis.call('HGET', cell.key, 'p'))
              -- A refund for a period that is over is void; an extra charge lands in the current one.
              local void = delta == 0 or (delta < 0 and (cell.n2 ~= target or (stored and stored > target)))
              if not void then
                if stored and stored > target then target = stored end
                if stored ~= target then
                  redis.call('DEL', cell.key)
                  redis.call('HSET', cell.key, 'p', fmt(target))
                end
                local own = tonumber(redis.call('HGET', cell.key, 'h:' .. host)) or 0
                redis.call('HSET', cell.key, 'h:' .. host, fmt(math.max(0, own + delta)))
                redis.call('PEXPIREAT', cell.key, fmt(period_start(cell.kind, target + 1) * 1000 + 3600000))
              end
            end
          end
          return 1
        end

        local function renew(keys, args)
          local lease, ttl = args[1], tonumber(args[2])
          local now = now_us()
          local reply = {}
          for i, key in ipairs(keys) do
            reply[i] = redis.call('ZSCORE', key, lease) and 1 or 0
            redis.call('ZADD', key, fmt(now + ttl * 1000), lease)
            keep_until(key, ttl + 1000)
          end
          return reply
        end

        local function seed(keys, args)
          local host = args[1]
          local sec = floordiv(now_us(), 1000000)
          local raised = 0
          for i, key in ipairs(keys) do
            local kind, number, contribution = args[i * 3 - 1], tonumber(args[i * 3]), tonumber(args[i * 3 + 1])
            raised = raised + raise_own(key, kind, number, contribution, host, sec)
          end
          return raised
        end

        redis.register_function('foap_v1_admit', admit)
        redis.register_function('foap_v1_settle', settle)
        redis.register_function('foap_v1_renew', renew)
        redis.register_function('foap_v1_seed', seed)
        """
}
