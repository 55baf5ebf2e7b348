//! The server-side scripts. Each runs atomically in Redis, so a length check and the append
//! it allows, or a claim and the dead-lettering it decides, cannot interleave with another
//! client's commands.
//!
//! Keys, in this order where a script takes them: the stream, the stats hash, the dead-letter
//! stream. Every entry this crate writes has one field, `v`, holding the encoded value.

use std::sync::OnceLock;

use redis::Script;

/// Finds the group's row of `XINFO GROUPS` as a table, creating the stream and the group
/// (reading from the stream's start) if either is missing.
const GROUP_INFO: &str = r"
local function group_info(stream, group)
  local function find()
    if redis.call('EXISTS', stream) == 1 then
      for _, row in ipairs(redis.call('XINFO', 'GROUPS', stream)) do
        local t = {}
        for i = 1, #row, 2 do t[row[i]] = row[i + 1] end
        if t['name'] == group then return t end
      end
    end
    return nil
  end
  local g = find()
  if not g then
    redis.call('XGROUP', 'CREATE', stream, group, '0', 'MKSTREAM')
    g = find()
  end
  return g
end
";

/// Appends values under the policy. ARGV: group, capacity, policy, whether this send has
/// waited already (`1`) or not (`0`), whether to return the new entries' ids (`1`, for
/// single sends; a batch needs only the counts), then one payload per value.
///
/// The queue's length is what the group has not acknowledged: its pending entries (delivered,
/// not acked) plus its lag (entries not yet delivered). Returns `{codes, ids, stop}`: one
/// code per value handled, in order (`Q`: appended; `E`: appended after evicting the oldest
/// undelivered entry; `D`: dropped), the ids of the values appended (if asked for), and
/// `stop`: empty when every value was handled, `R` when the rest were rejected, `F` when the
/// rest found the queue full (Block: the client waits and sends them again).
const SEND: &str = r"
local stream, stats = KEYS[1], KEYS[2]
local group, cap, policy = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local g = group_info(stream, group)
local last, read, lag = g['last-delivered-id'], g['entries-read'], g['lag']
local exact = true
if not lag then
  -- Redis cannot tell the lag after an XDEL inside the undelivered range: count it (as far
  -- as this call can need).
  local limit = cap + #ARGV
  lag = #redis.call('XRANGE', stream, '(' .. last, '+', 'COUNT', limit)
  exact = lag < limit
  read = false
end
local len = g['pending'] + lag
-- How many entries the stream has ever had.
local function added()
  local info = redis.call('XINFO', 'STREAM', stream)
  for i = 1, #info, 2 do
    if info[i] == 'entries-added' then return info[i + 1] end
  end
end
-- Whether entry id `a` comes after `b`.
local function after(a, b)
  local am, as = string.match(a, '(%d+)-(%d+)')
  local bm, bs = string.match(b, '(%d+)-(%d+)')
  am, as, bm, bs = tonumber(am), tonumber(as), tonumber(bm), tonumber(bs)
  return am > bm or (am == bm and as > bs)
end
-- When the queue looks full, make sure the lag is real. Redis keeps counting undelivered
-- entries that another client trimmed away (XTRIM, MAXLEN); that can only have happened if
-- the stream now starts after the group's last delivered entry. Then count what is really
-- there, and set the group's read count so that Redis's lag is right again. Once per call.
local checked = false
local function check_lag()
  if checked or last == '0-0' then return end
  checked = true
  local first = redis.call('XRANGE', stream, '-', '+', 'COUNT', 1)[1]
  if first and not after(first[1], last) then return end
  local real = #redis.call('XRANGE', stream, '(' .. last, '+', 'COUNT', cap + 1)
  if real < lag and real <= cap then
    read = added() - real
    redis.call('XGROUP', 'SETID', stream, group, last, 'ENTRIESREAD', read)
    len, lag, exact = len - lag + real, real, true
  end
end
local want_ids = ARGV[5] == '1'
local codes, ids, sent, dropped, evicted, rejected, stop = {}, {}, 0, 0, 0, 0, ''
for i = 6, #ARGV do
  if len >= cap and lag > 0 then check_lag() end
  local oldest = nil
  if len >= cap and lag > 0 and policy == 'drop-oldest' then
    oldest = redis.call('XRANGE', stream, '(' .. last, '+', 'COUNT', 1)[1]
  end
  if len < cap then
    local id = redis.call('XADD', stream, '*', 'v', ARGV[i])
    if want_ids then ids[#ids + 1] = id end
    codes[#codes + 1] = 'Q'
    len, lag, sent = len + 1, lag + 1, sent + 1
  elseif oldest then
    -- Evict the oldest entry no consumer holds: move the group past it. It stays in the
    -- stream (history) until acknowledged history is trimmed; no consumer will get it.
    -- The group's read count moves with it, so that Redis keeps an exact lag.
    if not read and exact then read = added() - lag end
    if read then
      read = read + 1
      redis.call('XGROUP', 'SETID', stream, group, oldest[1], 'ENTRIESREAD', read)
    else
      redis.call('XGROUP', 'SETID', stream, group, oldest[1])
    end
    last = oldest[1]
    local id = redis.call('XADD', stream, '*', 'v', ARGV[i])
    if want_ids then ids[#ids + 1] = id end
    codes[#codes + 1] = 'E'
    sent, evicted = sent + 1, evicted + 1
  elseif policy == 'drop-newest' or policy == 'drop-oldest' then
    -- Drop-oldest with every counted entry held by a consumer: nothing can be evicted.
    codes[#codes + 1] = 'D'
    dropped = dropped + 1
  elseif policy == 'reject' then
    stop, rejected = 'R', #ARGV - i + 1
    break
  else
    stop = 'F'
    break
  end
end
if sent > 0 then redis.call('HINCRBY', stats, 'sent', sent) end
if dropped > 0 then redis.call('HINCRBY', stats, 'dropped_newest', dropped) end
if evicted > 0 then redis.call('HINCRBY', stats, 'evicted_oldest', evicted) end
if rejected > 0 then redis.call('HINCRBY', stats, 'rejected', rejected) end
if stop == 'F' and ARGV[4] == '0' then redis.call('HINCRBY', stats, 'send_waits', 1) end
return {table.concat(codes), ids, stop}
";

/// Claims deliveries to redo. ARGV: group, consumer, min idle ms, count, max deliveries,
/// claim cursor, own cursor, own end (`+`, or before the first entry this receiver read). The receiver sends a non-blocking XREADGROUP for new entries
/// in the same round trip, after this (a script copies every reply through Lua tables:
/// reading outside it costs the server a third as much).
///
/// Deliveries to redo are, while the own cursor is not empty, this consumer's own pending
/// entries from before it was made (a consumer started again under a dead one's name takes
/// them back at once), then the group's entries idle for `min idle` (`XAUTOCLAIM`: a dead
/// consumer's, or nacked ones). A claimed entry delivered more than `max deliveries` times
/// goes to the dead-letter stream (with its id, delivery count and why) and is
/// acknowledged. Returns `{claim cursor, {{id, fields, deliveries}, ...}, own cursor}`.
const RECEIVE: &str = r"
local stream, stats, dead = KEYS[1], KEYS[2], KEYS[3]
local group, consumer = ARGV[1], ARGV[2]
local min_idle, count, max_deliveries, cursor = ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6]
local own, own_end = ARGV[7], ARGV[8]
group_info(stream, group)
local out, redelivered, dead_lettered = {}, 0, 0
local claimed = {}
if own ~= '' then
  local ids = {}
  for _, row in ipairs(redis.call('XPENDING', stream, group, own, own_end, count, consumer)) do
    ids[#ids + 1] = row[1]
  end
  if #ids > 0 then
    claimed = redis.call('XCLAIM', stream, group, consumer, 0, unpack(ids))
  end
  if #ids == count then own = '(' .. ids[#ids] else own = '' end
end
if own == '' and #claimed < count then
  local r = redis.call('XAUTOCLAIM', stream, group, consumer, min_idle, cursor,
    'COUNT', count - #claimed)
  cursor = r[1]
  for _, e in ipairs(r[2]) do claimed[#claimed + 1] = e end
end
for _, e in ipairs(claimed) do
  local id, fields = e[1], e[2] or {}
  local n = redis.call('XPENDING', stream, group, id, id, 1)[1][4]
  if n > max_deliveries then
    local add = {'XADD', dead, '*', 'id', id, 'deliveries', n,
      'error', 'delivered ' .. n .. ' times without an ack'}
    for i = 1, #fields do add[#add + 1] = fields[i] end
    redis.call(unpack(add))
    redis.call('XACK', stream, group, id)
    dead_lettered = dead_lettered + 1
  else
    out[#out + 1] = {id, fields, n}
    redelivered = redelivered + 1
  end
end
if redelivered > 0 then redis.call('HINCRBY', stats, 'redelivered', redelivered) end
if dead_lettered > 0 then redis.call('HINCRBY', stats, 'dead_lettered', dead_lettered) end
return {cursor, out, own}
";

/// Acknowledges entries, then trims the acknowledged history: every entry older than the
/// oldest pending one (or, with none pending, than the last delivered one). ARGV: group,
/// ids. Returns how many were acknowledged (an id acked twice counts once).
const ACK: &str = r"
local stream, stats = KEYS[1], KEYS[2]
local group = ARGV[1]
local acked = 0
for i = 2, #ARGV, 1000 do
  acked = acked + redis.call('XACK', stream, group, unpack(ARGV, i, math.min(i + 999, #ARGV)))
end
if acked > 0 then
  redis.call('HINCRBY', stats, 'acked', acked)
  local p = redis.call('XPENDING', stream, group)
  local floor = p[2]
  if not floor then floor = group_info(stream, group)['last-delivered-id'] end
  redis.call('XTRIM', stream, 'MINID', '~', floor)
end
return acked
";

/// Makes deliveries this consumer still holds available again at once: they are marked idle
/// since long ago, so the next receive of any consumer claims them (counting a delivery).
/// ARGV: group, consumer, ids. Returns how many were released.
const NACK: &str = r"
local stream, stats = KEYS[1], KEYS[2]
local group, consumer = ARGV[1], ARGV[2]
local n = 0
for i = 3, #ARGV do
  local p = redis.call('XPENDING', stream, group, ARGV[i], ARGV[i], 1)[1]
  if p and p[2] == consumer then
    redis.call('XCLAIM', stream, group, consumer, 0, ARGV[i], 'IDLE', 1000000000000, 'JUSTID')
    n = n + 1
  end
end
if n > 0 then redis.call('HINCRBY', stats, 'nacked', n) end
return n
";

/// Acknowledges one entry and moves it to the dead-letter stream with the reason. ARGV:
/// group, id, deliveries, error. Returns 1 if the entry was still pending (else nothing is
/// written).
const DEAD_LETTER: &str = r"
local stream, stats, dead = KEYS[1], KEYS[2], KEYS[3]
local group, id, deliveries, err = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
-- Only once: a second try (after a lost reply) finds the entry acknowledged already.
if redis.call('XACK', stream, group, id) == 0 then return 0 end
local add = {'XADD', dead, '*', 'id', id, 'deliveries', deliveries, 'error', err}
local e = redis.call('XRANGE', stream, id, id)[1]
if e then
  for i = 1, #e[2] do add[#add + 1] = e[2][i] end
end
redis.call(unpack(add))
redis.call('HINCRBY', stats, 'dead_lettered', 1)
redis.call('HINCRBY', stats, 'undecodable', 1)
return 1
";

/// The group's figures: `{pending, lag, consumers}`. ARGV: group, capacity. Where Redis
/// cannot tell the lag, it is counted up to the capacity + 1.
const LENGTH: &str = r"
local g = group_info(KEYS[1], ARGV[1])
local lag = g['lag']
if not lag then
  lag = #redis.call('XRANGE', KEYS[1], '(' .. g['last-delivered-id'], '+', 'COUNT', tonumber(ARGV[2]) + 1)
end
return {g['pending'], lag, g['consumers']}
";

macro_rules! script {
    ($name:ident, $body:ident, $with_group:expr) => {
        pub(crate) fn $name() -> &'static Script {
            static S: OnceLock<Script> = OnceLock::new();
            S.get_or_init(|| {
                if $with_group {
                    Script::new(&format!("{GROUP_INFO}{}", $body))
                } else {
                    Script::new($body)
                }
            })
        }
    };
}

script!(send, SEND, true);
script!(receive, RECEIVE, true);
script!(ack, ACK, true);
script!(nack, NACK, false);
script!(dead_letter, DEAD_LETTER, false);
script!(length, LENGTH, true);
