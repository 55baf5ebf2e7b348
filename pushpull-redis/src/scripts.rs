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

/// Appends values under the policy. ARGV: group, capacity, policy, then one payload per value.
///
/// The queue's length is what the group has not acknowledged: its pending entries (delivered,
/// not acked) plus its lag (entries not yet delivered). Returns `{outcomes, stop}`: one
/// outcome per value handled, in order (an entry id: appended; `E` and an id: appended after
/// evicting the oldest undelivered entry; `D`: dropped), and `stop`: empty when every value
/// was handled, `R` when the rest were rejected, `F` when the rest found the queue full
/// (Block: the client waits and sends them again).
const SEND: &str = r"
local stream, stats = KEYS[1], KEYS[2]
local group, cap, policy = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local g = group_info(stream, group)
local last, read, lag = g['last-delivered-id'], g['entries-read'], g['lag']
if not lag then
  -- Redis cannot tell the lag after an XDEL inside the undelivered range: count it.
  lag = #redis.call('XRANGE', stream, '(' .. last, '+', 'COUNT', cap + #ARGV)
  read = false
end
local len = g['pending'] + lag
local out, sent, dropped, evicted, rejected, stop = {}, 0, 0, 0, 0, ''
for i = 4, #ARGV do
  if len < cap then
    out[#out + 1] = redis.call('XADD', stream, '*', 'v', ARGV[i])
    len, lag, sent = len + 1, lag + 1, sent + 1
  elseif policy == 'drop-oldest' and lag > 0 then
    -- Evict the oldest entry no consumer holds: move the group past it. It stays in the
    -- stream (history) until acknowledged history is trimmed; no consumer will get it.
    local first = redis.call('XRANGE', stream, '(' .. last, '+', 'COUNT', 1)[1][1]
    if read then
      read = read + 1
      redis.call('XGROUP', 'SETID', stream, group, first, 'ENTRIESREAD', read)
    else
      redis.call('XGROUP', 'SETID', stream, group, first)
    end
    last = first
    out[#out + 1] = 'E' .. redis.call('XADD', stream, '*', 'v', ARGV[i])
    sent, evicted = sent + 1, evicted + 1
  elseif policy == 'drop-newest' or policy == 'drop-oldest' then
    -- Drop-oldest with every counted entry held by a consumer: nothing can be evicted.
    out[#out + 1] = 'D'
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
if stop == 'F' then redis.call('HINCRBY', stats, 'full', 1) end
return {out, stop}
";

/// Claims this consumer's share of idle deliveries, then reads new entries, without
/// blocking. ARGV: group, consumer, min idle ms, count, max deliveries, claim cursor.
///
/// A reclaimed entry delivered more than `max deliveries` times goes to the dead-letter
/// stream (with its id, delivery count and why) and is acknowledged. Returns
/// `{next cursor, {{id, fields, deliveries}, ...}}`.
const RECEIVE: &str = r"
local stream, stats, dead = KEYS[1], KEYS[2], KEYS[3]
local group, consumer = ARGV[1], ARGV[2]
local min_idle, count, max_deliveries, cursor = ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6]
group_info(stream, group)
local out, redelivered, dead_lettered = {}, 0, 0
local claimed = redis.call('XAUTOCLAIM', stream, group, consumer, min_idle, cursor, 'COUNT', count)
cursor = claimed[1]
for _, e in ipairs(claimed[2]) do
  local id, fields = e[1], e[2]
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
if #out < count then
  local new = redis.call('XREADGROUP', 'GROUP', group, consumer, 'COUNT', count - #out,
    'STREAMS', stream, '>')
  if new then
    for _, e in ipairs(new[1][2]) do out[#out + 1] = {e[1], e[2], 1} end
  end
end
if redelivered > 0 then redis.call('HINCRBY', stats, 'redelivered', redelivered) end
if dead_lettered > 0 then redis.call('HINCRBY', stats, 'dead_lettered', dead_lettered) end
return {cursor, out}
";

/// Acknowledges entries, then trims the acknowledged history: every entry older than the
/// oldest pending one (or, with none pending, than the last delivered one). ARGV: group,
/// ids. Returns how many were acknowledged (an id acked twice counts once).
const ACK: &str = r"
local stream, stats = KEYS[1], KEYS[2]
local group = ARGV[1]
local acked = redis.call('XACK', stream, group, unpack(ARGV, 2))
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

/// Moves one entry to the dead-letter stream with the reason, and acknowledges it. ARGV:
/// group, id, deliveries, error. Returns 1 if the entry was still pending.
const DEAD_LETTER: &str = r"
local stream, stats, dead = KEYS[1], KEYS[2], KEYS[3]
local group, id, deliveries, err = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local add = {'XADD', dead, '*', 'id', id, 'deliveries', deliveries, 'error', err}
local e = redis.call('XRANGE', stream, id, id)[1]
if e then
  for i = 1, #e[2] do add[#add + 1] = e[2][i] end
end
redis.call(unpack(add))
local n = redis.call('XACK', stream, group, id)
redis.call('HINCRBY', stats, 'dead_lettered', 1)
redis.call('HINCRBY', stats, 'undecodable', 1)
return n
";

/// The group's figures: `{pending, lag or -1, consumers}`. ARGV: group.
const LENGTH: &str = r"
local g = group_info(KEYS[1], ARGV[1])
local lag = g['lag']
if not lag then
  lag = #redis.call('XRANGE', KEYS[1], '(' .. g['last-delivered-id'], '+')
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
