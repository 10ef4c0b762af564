package store

import (
	"fmt"
	"sort"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/smsfleet/smsfleet/internal/sms"
)

// luaAllowed is the transition table of internal/sms rendered as a Lua
// set, so Go and the scripts share one definition of a legal move.
var luaAllowed = func() string {
	var pairs []string
	for _, from := range sms.AllStatuses {
		for _, to := range sms.AllStatuses {
			if sms.CanMove(from, to) {
				pairs = append(pairs, fmt.Sprintf("[%q]=true", string(from)+">"+string(to)))
			}
		}
	}
	sort.Strings(pairs)
	var outcomes []string
	for _, st := range sms.AllStatuses {
		if st.Outcome() {
			outcomes = append(outcomes, fmt.Sprintf("[%q]=true", st))
		}
	}
	return "local allowed = {" + strings.Join(pairs, ",") + "}\n" +
		"local outcome = {" + strings.Join(outcomes, ",") + "}\n"
}()

// luaMove is shared by the scripts below: move the SMS at skey (message at
// mkey) to status `to` if the table allows it, stamping `up` and moving the
// counters. A move to an outcome status also appends to the outcomes
// stream in the same atomic step, so an outcome event can be late but never
// lost or doubled (see outcomes.go). It returns the previous status, or
// false when nothing moved.
const luaMove = `
local function move(skey, mkey, to, now)
  local cur = redis.call('HGET', skey, 'st')
  if not cur or not allowed[cur .. '>' .. to] then return false, cur end
  redis.call('HSET', skey, 'st', to, 'up', now)
  if outcome[to] then redis.call('XADD', 'sf:oc', '*', 'id', string.sub(skey, 6), 'st', to, 'at', now) end
  redis.call('HINCRBY', mkey, 'c:' .. cur, -1)
  redis.call('HINCRBY', mkey, 'c:' .. to, 1)
  return true, cur
end
`

func newScript(body string) *redis.Script { return redis.NewScript(luaAllowed + luaMove + body) }

// scriptTransition: KEYS sms, msg, attempt history (empty for none); ARGV to,
// now ms, hour (YYYYMMDDHH), ref key (empty for none), ttl, segments, #pairs,
// field/value pairs to set when the move happens, then attempt records to
// append to the history. A move to sent counts the hourly "send" bucket
// and the message's total segments, and indexes the provider reference
// (applying a receipt parked for it); a move to delivered counts the
// hourly "delivery" bucket.
var scriptTransition = newScript(`
local ok, cur = move(KEYS[1], KEYS[2], ARGV[1], ARGV[2])
if not ok then return {0, cur or ''} end
local n = tonumber(ARGV[7])
local last = 7 + n * 2
for i = 8, last, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
if ARGV[1] == 'sent' then
  redis.call('HINCRBY', KEYS[2], 'h:send:' .. ARGV[3], 1)
  redis.call('HINCRBY', KEYS[2], 'segs', tonumber(ARGV[6]))
  -- The delivery wait starts: still sent when it ends means unknown.
  local dw = tonumber(redis.call('HGET', KEYS[2], 'dw') or '0')
  if dw > 0 then redis.call('ZADD', 'sf:dw', tonumber(ARGV[2]) + dw * 1000, string.sub(KEYS[1], 6)) end
elseif ARGV[1] == 'delivered' then
  redis.call('HINCRBY', KEYS[2], 'h:delivery:' .. ARGV[3], 1)
end
if ARGV[4] ~= '' then
  redis.call('SET', ARGV[4], string.sub(KEYS[1], 6), 'EX', ARGV[5])
  -- A receipt parked for this reference (it overtook this write) applies now.
  local pk = 'sf:park:' .. string.sub(ARGV[4], 8)
  local parked = redis.call('GET', pk)
  if parked then
    local to, code = string.match(parked, '^([^|]*)|(.*)$')
    if move(KEYS[1], KEYS[2], to, ARGV[2]) then
      if to == 'delivered' then redis.call('HINCRBY', KEYS[2], 'h:delivery:' .. ARGV[3], 1) end
      if code ~= '' then redis.call('HSET', KEYS[1], 'dlr', code) end
    end
    redis.call('DEL', pk)
    redis.call('ZREM', 'sf:pz', string.sub(pk, 9))
  end
end
if KEYS[3] ~= '' and #ARGV > last then
  for i = last + 1, #ARGV do redis.call('RPUSH', KEYS[3], ARGV[i]) end
  redis.call('EXPIRE', KEYS[3], ARGV[5])
end
return {1, cur}
`)

// scriptAttempt: KEYS sms, attempt history; ARGV now, provider, error,
// ambiguous (0/1), ttl, attempt records. Notes a failed attempt on an SMS
// that stays sending and will be retried: its last provider (a retry after
// an ambiguous failure goes back to it), its error and its history.
var scriptAttempt = redis.NewScript(`
if not redis.call('HGET', KEYS[1], 'st') then return 0 end
redis.call('HSET', KEYS[1], 'up', ARGV[1], 'p', ARGV[2], 'e', ARGV[3], 'amb', ARGV[4])
for i = 6, #ARGV do redis.call('RPUSH', KEYS[2], ARGV[i]) end
redis.call('EXPIRE', KEYS[2], ARGV[5])
return 1
`)

// scriptReceipt: KEYS ref key, park key; ARGV to (delivered/undelivered),
// now ms, hour, error code, park ttl (0: do not park). Applies a delivery
// receipt to the SMS its provider reference names. A receipt for a
// reference not known yet (it raced the sent write) is parked, unless one
// is parked already; the sent write applies it. Returns {0} for an unknown
// (parked) reference, else what the move did.
var scriptReceipt = newScript(`
local id = redis.call('GET', KEYS[1])
if not id then
  local ttl = tonumber(ARGV[5])
  -- The key outlives its window (so the sweeper, not Redis, gives it up and
  -- counts it); sf:pz says when the window ends.
  if ttl > 0 and redis.call('SET', KEYS[2], ARGV[1] .. '|' .. ARGV[4], 'EX', ttl * 2 + 60, 'NX') then
    redis.call('ZADD', 'sf:pz', tonumber(ARGV[2]) + ttl * 1000, string.sub(KEYS[2], 9))
  end
  return {0, ''}
end
local skey, mkey = 'sf:s:' .. id, 'sf:m:' .. string.match(id, '^(.*)%.')
local ok, cur = move(skey, mkey, ARGV[1], ARGV[2])
if not ok then return {2, cur or ''} end
if ARGV[1] == 'delivered' then redis.call('HINCRBY', mkey, 'h:delivery:' .. ARGV[3], 1) end
if ARGV[4] ~= '' then redis.call('HSET', skey, 'dlr', ARGV[4]) end
return {1, cur}
`)

// scriptLoad: KEYS sms, msg, outbox; ARGV code, device key prefix, opt-out
// key prefix, now ms, may begin (0/1). Reads everything the worker needs to judge and render
// one SMS, in one round trip: {1, status, to, attempts, deadline, app,
// type, content, sender, placeholders, capping days, capping count, opted
// out (0/1), device hash as a flat list, began (0/1), last provider, last
// failure ambiguous (0/1)}, or {0, status} when
// it is not queued or sending. When nothing Lua can see could stop the SMS
// (not marketing, not opted out, deadline ahead) it also begins it, as
// scriptBegin would, saving the common OTP and transactional send a round
// trip; rendering may still suppress or fail it from sending. A running
// task proves its message was enqueued, so the message's outbox entry goes
// (for a direct send this saves the intake a round trip).
var scriptLoad = newScript(`
redis.call('ZREM', KEYS[3], ARGV[1])
local s = redis.call('HMGET', KEYS[1], 'st', 'to', 'a', 'dl', 'p', 'amb')
if not s[1] then return {0, ''} end
if s[1] ~= 'queued' and s[1] ~= 'sending' then return {0, s[1]} end
local m = redis.call('HMGET', KEYS[2], 'app', 'type', 'content', 'sender', 'dcp', 'cd', 'cc')
local app = m[1] or ''
local dev = redis.call('HGETALL', ARGV[2] .. app .. ':' .. s[2])
local oo = 0
if redis.call('ZSCORE', ARGV[3] .. app, s[2]) then oo = 1 end
local attempts, began = s[3] or '0', 0
local dl, now = tonumber(s[4] or '0'), tonumber(ARGV[4])
if ARGV[5] == '1' and m[2] ~= 'marketing' and oo == 0 and (dl == 0 or now <= dl) then
  if s[1] == 'queued' then move(KEYS[1], KEYS[2], 'sending', ARGV[4]) end
  attempts, began = tostring(redis.call('HINCRBY', KEYS[1], 'a', 1)), 1
end
return {1, s[1], s[2], attempts, s[4] or '0', app, m[2] or '', m[3] or '', m[4] or '', m[5] or '', m[6] or '0', m[7] or '0', oo, dev, began, s[5] or '', s[6] or '0'}
`)

// scriptBegin: KEYS sms, msg, frequency zset (” unless marketing); ARGV
// now ms, capping days, capping count, sms id, frequency window ms. Takes
// the SMS for sending: queued moves to sending; sending (a retry, or a crash
// mid-attempt) is taken again; the attempt is counted. A marketing SMS is
// recorded in the device's frequency set; with capping, a device that had
// `capping count` marketing SMS within `capping days` makes it suppressed
// (frequency_cap) instead, atomically, so concurrent sends cannot overshoot
// the cap. Returns {1, attempts}, {2} (capped) or {0, status}.
var scriptBegin = newScript(`
local st = redis.call('HGET', KEYS[1], 'st')
if st == 'queued' then
  move(KEYS[1], KEYS[2], 'sending', ARGV[1])
elseif st ~= 'sending' then
  return {0, st or ''}
end
if KEYS[3] ~= '' then
  local now, days, count, window = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[5])
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - window)
  if not redis.call('ZSCORE', KEYS[3], ARGV[4]) then
    if count > 0 and redis.call('ZCOUNT', KEYS[3], now - days * 86400000, '+inf') >= count then
      move(KEYS[1], KEYS[2], 'suppressed', ARGV[1])
      redis.call('HSET', KEYS[1], 'rs', 'frequency_cap')
      return {2}
    end
    redis.call('ZADD', KEYS[3], now, ARGV[4])
    redis.call('PEXPIRE', KEYS[3], window)
  end
end
return {1, redis.call('HINCRBY', KEYS[1], 'a', 1)}
`)

// scriptMaterialize: KEYS sms, msg; ARGV to, now, ttl, deadline ms. Creates
// the record of one recipient of a fanned-out message if it does not exist
// yet: queued, or canceled when the message was canceled meanwhile. The
// scheduled counter moves to the new status. Returns the record's status.
var scriptMaterialize = newScript(`
local st = redis.call('HGET', KEYS[1], 'st')
if st then return st end
st = 'queued'
if redis.call('HGET', KEYS[2], 'canceled') == '1' then st = 'canceled' end
redis.call('HSET', KEYS[1], 'm', string.sub(KEYS[2], 6), 'to', ARGV[1], 'st', st, 'up', ARGV[2], 'dl', ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('HINCRBY', KEYS[2], 'c:scheduled', -1)
redis.call('HINCRBY', KEYS[2], 'c:' .. st, 1)
return st
`)

// scriptFanoutStart: KEYS msg; ARGV group. Marks the fan-out of one time
// zone group as started unless a cancel got there first.
var scriptFanoutStart = newScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return 'missing' end
local f = 'fo:' .. ARGV[1]
local fo = redis.call('HGET', KEYS[1], f)
if fo == false then return 'missing' end
if fo == 'canceled' then return 'canceled' end
if fo == '' then redis.call('HSET', KEYS[1], f, 'started') end
return 'ok'
`)

// scriptCancel: KEYS msg; ARGV now. Marks a message canceled if anything of
// it is still pending. Every time zone group whose fan-out has not started
// is canceled whole, in one counter move (its recipients have no records
// yet), and its fan-out is told to do nothing. Returns {'sent'} when
// nothing was pending, else {'ok', started groups...}: the caller cancels
// the records of those groups one by one.
var scriptCancel = newScript(`
local h = redis.call('HMGET', KEYS[1], 'c:scheduled', 'c:queued', 'g')
local sched, queued, groups = tonumber(h[1] or '0'), tonumber(h[2] or '0'), tonumber(h[3] or '0')
if sched + queued <= 0 then return {'sent'} end
redis.call('HSET', KEYS[1], 'canceled', '1', 'canceled_at', ARGV[1])
local out = {'ok'}
for i = 0, groups - 1 do
  local f = 'fo:' .. i
  if redis.call('HGET', KEYS[1], f) == '' then
    redis.call('HSET', KEYS[1], f, 'canceled')
    local n = tonumber(redis.call('HGET', KEYS[1], 'gn:' .. i) or '0')
    redis.call('HINCRBY', KEYS[1], 'c:scheduled', -n)
    redis.call('HINCRBY', KEYS[1], 'c:canceled', n)
  else
    table.insert(out, tostring(i))
  end
end
return out
`)

// scriptCancelSMS: KEYS sms, msg; ARGV to, now, ttl. Cancels one recipient
// of a canceled message: a pending record moves to canceled, a missing one
// is created canceled (its fan-out had not reached it).
var scriptCancelSMS = newScript(`
local st = redis.call('HGET', KEYS[1], 'st')
if not st then
  redis.call('HSET', KEYS[1], 'm', string.sub(KEYS[2], 6), 'to', ARGV[1], 'st', 'canceled', 'up', ARGV[2])
  redis.call('EXPIRE', KEYS[1], ARGV[3])
  redis.call('HINCRBY', KEYS[2], 'c:scheduled', -1)
  redis.call('HINCRBY', KEYS[2], 'c:canceled', 1)
  return 1
end
if move(KEYS[1], KEYS[2], 'canceled', ARGV[2]) then return 1 end
return 0
`)

// scriptCreateMessage: KEYS msg, list, seq, outbox, txn (or ""), sms (or
// ""); ARGV code, ttl s, now ms, txn ttl s, chunk key prefix, #msg pairs,
// #sms pairs, msg pairs..., sms pairs..., chunks... Writes a whole message
// atomically: a transactionId seen before returns {0, existing code} and
// writes nothing, so a retried request never creates a second message.
var scriptCreateMessage = redis.NewScript(`
if KEYS[5] ~= '' then
  local prev = redis.call('GET', KEYS[5])
  if prev then return {0, prev} end
end
local code, ttl, now = ARGV[1], ARGV[2], ARGV[3]
local nm, ns = tonumber(ARGV[6]), tonumber(ARGV[7])
local i = 8
for j = 1, nm do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]); i = i + 2 end
redis.call('EXPIRE', KEYS[1], ttl)
if ns > 0 then
  for j = 1, ns do redis.call('HSET', KEYS[6], ARGV[i], ARGV[i + 1]); i = i + 2 end
  redis.call('EXPIRE', KEYS[6], ttl)
end
local c = 0
while i <= #ARGV do
  redis.call('SET', ARGV[5] .. c, ARGV[i], 'EX', ttl)
  c = c + 1; i = i + 1
end
local seq = redis.call('INCR', KEYS[3])
redis.call('ZADD', KEYS[2], seq, code)
redis.call('ZADD', KEYS[4], now, code)
if KEYS[5] ~= '' then redis.call('SET', KEYS[5], code, 'EX', ARGV[4]) end
return {1, code}
`)

// scriptDeliveryWaits: KEYS waits zset; ARGV now ms, limit. Moves every SMS
// whose delivery wait has ended and that is still sent to unknown ("the
// operator sent no receipt"); a late receipt still upgrades it. Returns how
// many moved.
var scriptDeliveryWaits = newScript(`
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
local moved = 0
for _, id in ipairs(due) do
  local code = string.match(id, '^(.*)%.')
  if code and move('sf:s:' .. id, 'sf:m:' .. code, 'unknown', ARGV[1]) then moved = moved + 1 end
  redis.call('ZREM', KEYS[1], id)
end
return {moved, #due}
`)

// scriptDropParked: KEYS sf:pz, sf:cnt; ARGV now ms, limit. Gives up the
// parked receipts whose window ended (their SMS was never marked sent with
// that reference) and counts them. Returns {dropped, examined}.
var scriptDropParked = redis.NewScript(`
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
local dropped = 0
for _, m in ipairs(due) do
  if redis.call('DEL', 'sf:park:' .. m) == 1 then dropped = dropped + 1 end
  redis.call('ZREM', KEYS[1], m)
end
if dropped > 0 then redis.call('HINCRBY', KEYS[2], 'receipts_dropped', dropped) end
return {dropped, #due}
`)

var allScripts = []*redis.Script{
	scriptDeliveryWaits, scriptDropParked,
	scriptTransition, scriptAttempt, scriptReceipt, scriptLoad, scriptBegin, scriptMaterialize, scriptFanoutStart, scriptCancel,
	scriptCancelSMS, scriptCreateMessage, scriptRegisterDevice, scriptUnregisterDevice, scriptSetTags,
}
