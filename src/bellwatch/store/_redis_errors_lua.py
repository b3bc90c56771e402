"""The Redis error-pattern store's wire shape: the Lua script that applies a batch.

Private to :mod:`bellwatch.store.redis_errors`. :data:`APPLY` adds one process's
occurrence counts per fingerprint atomically and at most once per (process,
sequence number), and answers what the cluster decided: the lines due (fingerprint,
count, severity, whether the line says an escalation), the cluster counts, the
escalations, and the fingerprints this process should now know.
"""

from __future__ import annotations

__all__ = ["APPLY", "KEEP"]

KEEP = 7 * 86_400  # seconds the service-wide error keys outlive their last write

# ARGV: prefix, proc, seq, mode, payload, now, every, window, ttl, spike threshold,
# spike window, max patterns, error mode, severity order (comma-separated), since, the last
# seq Redis acknowledged to this process (the generation check; mode resend: what it lost).
APPLY = """
local p = ARGV[1]
local seqkey = p .. 'eproc:' .. ARGV[2]
local seq = tonumber(ARGV[3])
local cur = redis.call('GET', seqkey)
local since = tonumber(ARGV[15])
local function known()
  -- a process's first round learns every live pattern, later rounds only the new ones
  if since == 0 then return redis.call('ZRANGE', p .. 'errs', 0, -1) end
  return redis.call('ZRANGEBYSCORE', p .. 'enew', since, '+inf')
end
if cur and tonumber(cur) >= seq then return {'dup', {}, {}, {}, known()} end
if ARGV[4] == 'delta' and not cur then return {'reset', {}, {}, {}, known()} end
if ARGV[4] == 'delta' and tonumber(cur) < tonumber(ARGV[16]) then
  return {'behind:' .. cur, {}, {}, {}, known()}
end
local quiet = ARGV[4] == 'full' or ARGV[4] == 'resend'
local d = cjson.decode(ARGV[5])
local now, every, window, ttl = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8]),
  tonumber(ARGV[9])
local threshold, width, maxp, mode = tonumber(ARGV[10]), tonumber(ARGV[11]),
  tonumber(ARGV[12]), ARGV[13]
local order = {}
for s in string.gmatch(ARGV[14], '[^,]+') do order[#order + 1] = s end
local function up(sev)
  for i, s in ipairs(order) do
    if s == sev then return order[math.min(i + 1, #order)] end
  end
  return sev
end
local lines, counts, escalations = {}, {}, {}
for key, v in pairs(d) do
  local n = v[1]
  local k = p .. 'e:' .. key
  local old = tonumber(redis.call('HGET', k, 'count') or '0')
  if old == 0 then
    redis.call('HSET', k, 'type', v[2], 'message', v[3], 'severity', v[4], 'endpoint', v[5],
      'first_seen', v[6], 'last_line', v[6], 'unlogged', 0)
    redis.call('ZADD', p .. 'enew', now, key)
  end
  local new = redis.call('HINCRBY', k, 'count', n)
  local last = tonumber(redis.call('HGET', k, 'last_seen') or '0')
  if v[7] > last then redis.call('HSET', k, 'last_seen', v[7]) end
  -- spike: two fixed buckets approximate a sliding window, on the cluster's count
  local bucket = math.floor(now / width)
  local b = tonumber(redis.call('HGET', k, 'bucket') or '-2')
  local bc = tonumber(redis.call('HGET', k, 'bucket_count') or '0')
  local prev = tonumber(redis.call('HGET', k, 'prev_count') or '0')
  if bucket == b then bc = bc + n else
    if bucket == b + 1 then prev = bc else prev = 0 end
    b, bc = bucket, n
  end
  redis.call('HSET', k, 'bucket', b, 'bucket_count', bc, 'prev_count', prev)
  local sev = redis.call('HGET', k, 'severity')
  local rate = prev * (1.0 - (now % width) / width) + bc
  if redis.call('HGET', k, 'escalated') ~= '1' and rate > threshold then
    redis.call('HSET', k, 'escalated', '1')
    if sev ~= order[#order] then
      sev = up(sev)
      redis.call('HSET', k, 'severity', sev)
      -- window mode: no line of its own; the next summary says it
      if mode == 'window' then redis.call('HSET', k, 'announce', 1) end
      escalations[#escalations + 1] = key
      escalations[#escalations + 1] = sev
    end
  end
  redis.call('HINCRBY', p .. 'etot', 'total', n)
  redis.call('HINCRBY', p .. 'etot', sev, n)
  if not quiet then
    if mode == 'every_n' then
      local m = (math.floor(old / every) + 1) * every
      while m <= new do
        lines[#lines + 1] = key
        lines[#lines + 1] = m
        lines[#lines + 1] = sev
        lines[#lines + 1] = 0
        m = m + every
      end
    else
      local unlogged = redis.call('HINCRBY', k, 'unlogged', old == 0 and n - 1 or n)
      local since_line = now - tonumber(redis.call('HGET', k, 'last_line'))
      if unlogged > 0 and since_line >= window then
        lines[#lines + 1] = key
        lines[#lines + 1] = unlogged
        lines[#lines + 1] = sev
        lines[#lines + 1] = redis.call('HGET', k, 'announce') or 0
        redis.call('HSET', k, 'unlogged', 0, 'last_line', now, 'announce', 0)
      elseif unlogged > 0 then
        redis.call('ZADD', p .. 'edue', 'NX', now + window - since_line, key)
      end
    end
  end
  counts[#counts + 1] = key
  counts[#counts + 1] = new
  redis.call('ZADD', p .. 'errs', now, key)
  redis.call('ZINCRBY', p .. 'etop', n, key)
  redis.call('EXPIRE', k, ttl)
end
-- window mode: summaries of patterns that went quiet with occurrences unsaid
for _, key in ipairs(redis.call('ZRANGEBYSCORE', p .. 'edue', '-inf', now)) do
  redis.call('ZREM', p .. 'edue', key)
  local k = p .. 'e:' .. key
  local unlogged = tonumber(redis.call('HGET', k, 'unlogged') or '0')
  if unlogged > 0 then
    lines[#lines + 1] = key
    lines[#lines + 1] = unlogged
    lines[#lines + 1] = redis.call('HGET', k, 'severity')
    lines[#lines + 1] = redis.call('HGET', k, 'announce') or 0
    redis.call('HSET', k, 'unlogged', 0, 'last_line', now, 'announce', 0)
  end
end
-- cleanup: forget patterns idle past the TTL, and the oldest beyond max patterns
local gone = redis.call('ZRANGEBYSCORE', p .. 'errs', '-inf', '(' .. (now - ttl))
local extra = redis.call('ZCARD', p .. 'errs') - #gone - maxp
if extra > 0 then
  for _, key in ipairs(redis.call('ZRANGE', p .. 'errs', #gone, #gone + extra - 1)) do
    gone[#gone + 1] = key
  end
end
for _, key in ipairs(gone) do
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
return {'ok', lines, counts, escalations, known()}
""".replace("_KEEP_", str(KEEP))
