"""The Redis error-pattern store's wire shape: the Lua script that applies a batch.

Private to :mod:`bellwatch.store.redis_errors`. :data:`APPLY` adds one process's
occurrence counts per fingerprint atomically and at most once per (process,
sequence number), and answers what the cluster decided: the lines due (fingerprint,
count, n, severity, whether the line says an escalation), the cluster counts, the
escalations, the alerts, and the fingerprints this process should now know.

Claims keep ``n`` exact: each fingerprint's hash holds ``count`` (occurrences) and
``claimed`` (occurrences some line has accounted for). A batch entry carries the
claims its process made itself (its first lines, n = 1 each); a line the script
hands out claims what is unclaimed up to that point, and a final round claims the
rest of the fingerprints the process names. So the ``n`` of every line written by
every process sum to ``count``.
"""

from __future__ import annotations

__all__ = ["APPLY", "KEEP"]

KEEP = 7 * 86_400  # seconds the service-wide error keys outlive their last write

# ARGV: prefix, proc, seq, mode, payload, now, every, window, ttl, spike threshold,
# spike window, max patterns, error mode, severity order (comma-separated), since,
# fingerprints whose unclaimed rest this process claims now (JSON list; a final round),
# severities whose first occurrence alerts (comma-separated), the last seq Redis
# acknowledged to this process (the generation check; mode resend: what it lost).
# Payload: {hash: [n, type, message, severity, endpoint, first_seen, last_seen, claims]}, and
# in a batch restoring lost data a ninth field, 1, for a pattern escalated before the loss.
# Counts: hash, the cluster's count, its severity now (each process learns an escalation).
# A line due: hash, count (every_n: the multiple of N or the total; window: n), n,
# severity, announce, type, message, endpoint (a process may no longer know the pattern).
APPLY = """
local p = ARGV[1]
local seqkey = p .. 'eproc:' .. ARGV[2]
local seq = tonumber(ARGV[3])
local cur = redis.call('GET', seqkey)
local since = tonumber(ARGV[15])
local now, every, mode = tonumber(ARGV[6]), tonumber(ARGV[7]), ARGV[13]
local lines = {}
local function say(key, k, count, n, sev)
  -- one line due: it claims n occurrences; its facts, for a process that forgot them
  local facts = redis.call('HMGET', k, 'announce', 'type', 'message', 'endpoint')
  for _, x in ipairs({key, count, n, sev, facts[1] or 0, facts[2] or '', facts[3] or '',
                      facts[4] or ''}) do
    lines[#lines + 1] = x
  end
end
local function known()
  -- a process's first round learns every live pattern, later rounds only the new ones
  if since == 0 then return redis.call('ZRANGE', p .. 'errs', 0, -1) end
  return redis.call('ZRANGEBYSCORE', p .. 'enew', since, '+inf')
end
local function claim_rest()
  -- a final round: the occurrences no line has accounted for yet, stated by this process
  for _, key in ipairs(cjson.decode(ARGV[16])) do
    local k = p .. 'e:' .. key
    local count = tonumber(redis.call('HGET', k, 'count') or '0')
    local claimed = tonumber(redis.call('HGET', k, 'claimed') or '0')
    if count > claimed then
      local total = mode == 'window' and count - claimed or count
      say(key, k, total, count - claimed, redis.call('HGET', k, 'severity'))
      redis.call('HSET', k, 'claimed', count, 'last_line', now, 'announce', 0)
      redis.call('ZREM', p .. 'edue', key)
    end
  end
end
-- What a round handed out (lines, escalations, alerts) is kept until the process's
-- next round: a resend of that sequence number (its reply was lost) gets it again.
local handed = p .. 'eproc:' .. ARGV[2] .. ':handed'
if cur and tonumber(cur) >= seq then
  local escalations, alerts = {}, {}
  local kept = tonumber(cur) == seq and redis.call('GET', handed)
  if kept then
    local was = cjson.decode(kept)
    lines, escalations, alerts = was[1], was[2], was[3]
  end
  claim_rest()
  if #lines + #escalations + #alerts > 0 then
    redis.call('SET', handed, cjson.encode({lines, escalations, alerts}), 'EX', _KEEP_)
  end
  return {'dup', lines, {}, escalations, known(), alerts}
end
if ARGV[4] == 'delta' and not cur then return {'reset', {}, {}, {}, known(), {}} end
-- Redis came back with older data (an RDB restore, a lagging replica): this process's
-- sequence key is older than what Redis acknowledged to it; it resends what was lost.
if ARGV[4] == 'delta' and tonumber(cur) < tonumber(ARGV[18]) then
  return {'behind:' .. cur, {}, {}, {}, known(), {}}
end
local quiet = ARGV[4] == 'full' or ARGV[4] == 'resend'
local d = cjson.decode(ARGV[5])
local window, ttl = tonumber(ARGV[8]), tonumber(ARGV[9])
local threshold, width, maxp = tonumber(ARGV[10]), tonumber(ARGV[11]), tonumber(ARGV[12])
local paging = {}
for s in string.gmatch(ARGV[17], '[^,]+') do paging[s] = true end
local order = {}
for s in string.gmatch(ARGV[14], '[^,]+') do order[#order + 1] = s end
local function up(sev)
  for i, s in ipairs(order) do
    if s == sev then return order[math.min(i + 1, #order)] end
  end
  return sev
end
local counts, escalations, alerts = {}, {}, {}
for key, v in pairs(d) do
  local n = v[1]
  local k = p .. 'e:' .. key
  local old = tonumber(redis.call('HGET', k, 'count') or '0')
  if old == 0 then
    redis.call('HSET', k, 'type', v[2], 'message', v[3], 'severity', v[4], 'endpoint', v[5],
      'first_seen', v[6], 'last_line', v[6], 'claimed', 0)
    redis.call('ZADD', p .. 'enew', now, key)
    -- new to the cluster: this batch's process sends the first-occurrence alert, once
    if not quiet and paging[v[4]] then alerts[#alerts + 1] = key end
  end
  local new = redis.call('HINCRBY', k, 'count', n)
  local claimed = redis.call('HINCRBY', k, 'claimed', v[8] or 0)
  local last = tonumber(redis.call('HGET', k, 'last_seen') or '0')
  if v[7] > last then redis.call('HSET', k, 'last_seen', v[7]) end
  -- restored counts (Redis lost them) are no new spike: the escalation a process was
  -- told of is restored with them, never decided twice
  if quiet and v[9] == 1 and redis.call('HGET', k, 'escalated') ~= '1' then
    redis.call('HSET', k, 'escalated', '1', 'severity', v[4])
  end
  -- spike: two fixed buckets approximate a sliding window, on the cluster's count
  local bucket = math.floor(now / width)
  local b = tonumber(redis.call('HGET', k, 'bucket') or '-2')
  local bc = tonumber(redis.call('HGET', k, 'bucket_count') or '0')
  local prev = tonumber(redis.call('HGET', k, 'prev_count') or '0')
  if not quiet then
    if bucket == b then bc = bc + n else
      if bucket == b + 1 then prev = bc else prev = 0 end
      b, bc = bucket, n
    end
    redis.call('HSET', k, 'bucket', b, 'bucket_count', bc, 'prev_count', prev)
  end
  local sev, n_at_sev = redis.call('HGET', k, 'severity'), n
  local rate = prev * (1.0 - (now % width) / width) + bc
  if not quiet and redis.call('HGET', k, 'escalated') ~= '1' and rate > threshold then
    redis.call('HSET', k, 'escalated', '1')
    if sev ~= order[#order] then
      -- each occurrence counts at the severity it had (the in-memory store's rule): the
      -- batch's occurrences before the one that took the rate past the threshold at the
      -- old severity, that one and the rest at the new
      local before = math.min(n, math.max(0, math.floor(threshold - (rate - n))))
      if before > 0 then redis.call('HINCRBY', p .. 'etot', sev, before) end
      n_at_sev = n - before
      sev = up(sev)
      redis.call('HSET', k, 'severity', sev)
      -- window mode: no line of its own; the next summary says it
      if mode == 'window' then redis.call('HSET', k, 'announce', 1) end
      escalations[#escalations + 1] = key
      escalations[#escalations + 1] = sev
    end
  end
  redis.call('HINCRBY', p .. 'etot', 'total', n)
  if n_at_sev > 0 then redis.call('HINCRBY', p .. 'etot', sev, n_at_sev) end
  if not quiet then
    if mode == 'every_n' then
      -- a line for each multiple of N crossed, claiming what is unclaimed up to it
      local m = (math.floor(old / every) + 1) * every
      while m <= new do
        if m > claimed then
          say(key, k, m, m - claimed, sev)
          claimed = m
        end
        m = m + every
      end
      redis.call('HSET', k, 'claimed', claimed)
    else
      local since_line = now - tonumber(redis.call('HGET', k, 'last_line'))
      if new > claimed and since_line >= window then
        say(key, k, new - claimed, new - claimed, sev)
        redis.call('HSET', k, 'claimed', new, 'last_line', now, 'announce', 0)
      elseif new > claimed then
        redis.call('ZADD', p .. 'edue', 'NX', now + window - since_line, key)
      end
    end
  end
  counts[#counts + 1] = key
  counts[#counts + 1] = new
  counts[#counts + 1] = sev
  redis.call('ZADD', p .. 'errs', now, key)
  redis.call('ZINCRBY', p .. 'etop', n, key)
  -- past the TTL the cleanup below forgets it (stating its rest) before Redis would
  redis.call('EXPIRE', k, math.ceil(ttl) + 600)
end
-- window mode: summaries of patterns that went quiet with occurrences unsaid
for _, key in ipairs(redis.call('ZRANGEBYSCORE', p .. 'edue', '-inf', now)) do
  redis.call('ZREM', p .. 'edue', key)
  local k = p .. 'e:' .. key
  local count = tonumber(redis.call('HGET', k, 'count') or '0')
  local claimed = tonumber(redis.call('HGET', k, 'claimed') or '0')
  if count > claimed then
    say(key, k, count - claimed, count - claimed, redis.call('HGET', k, 'severity'))
    redis.call('HSET', k, 'claimed', count, 'last_line', now, 'announce', 0)
  end
end
claim_rest()
-- cleanup: forget patterns idle past the TTL, and the oldest beyond max patterns
local gone = redis.call('ZRANGEBYSCORE', p .. 'errs', '-inf', '(' .. (now - ttl))
local extra = redis.call('ZCARD', p .. 'errs') - #gone - maxp
if extra > 0 then
  for _, key in ipairs(redis.call('ZRANGE', p .. 'errs', #gone, #gone + extra - 1)) do
    gone[#gone + 1] = key
  end
end
for _, key in ipairs(gone) do
  -- what no line has stated yet is stated now, by this process, before it is forgotten
  local k = p .. 'e:' .. key
  local count = tonumber(redis.call('HGET', k, 'count') or '0')
  local claimed = tonumber(redis.call('HGET', k, 'claimed') or '0')
  if count > claimed then
    local total = mode == 'window' and count - claimed or count
    say(key, k, total, count - claimed, redis.call('HGET', k, 'severity'))
  end
  redis.call('ZREM', p .. 'errs', key)
  redis.call('ZREM', p .. 'etop', key)
  redis.call('ZREM', p .. 'enew', key)
  redis.call('ZREM', p .. 'edue', key)
  redis.call('DEL', p .. 'e:' .. key)
end
redis.call('ZREMRANGEBYSCORE', p .. 'enew', '-inf', '(' .. (now - 3600))
for _, k in ipairs({'errs', 'etop', 'enew', 'edue', 'etot'}) do
  redis.call('EXPIRE', p .. k, _KEEP_)
end
redis.call('SET', seqkey, seq, 'EX', _KEEP_)
if #lines + #escalations + #alerts > 0 then
  redis.call('SET', handed, cjson.encode({lines, escalations, alerts}), 'EX', _KEEP_)
else
  redis.call('DEL', handed)
end
return {'ok', lines, counts, escalations, known(), alerts}
""".replace("_KEEP_", str(KEEP))
