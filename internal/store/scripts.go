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
	return "local allowed = {" + strings.Join(pairs, ",") + "}\n"
}()

// luaMove is shared by the scripts below: move the SMS at skey (message at
// mkey) to status `to` if the table allows it, stamping `up` and moving the
// counters. It returns the previous status, or false when nothing moved.
const luaMove = `
local function move(skey, mkey, to, now)
  local cur = redis.call('HGET', skey, 'st')
  if not cur or not allowed[cur .. '>' .. to] then return false, cur end
  redis.call('HSET', skey, 'st', to, 'up', now)
  redis.call('HINCRBY', mkey, 'c:' .. cur, -1)
  redis.call('HINCRBY', mkey, 'c:' .. to, 1)
  return true, cur
end
`

func newScript(body string) *redis.Script { return redis.NewScript(luaAllowed + luaMove + body) }

// scriptTransition: KEYS sms, msg; ARGV to, now ms, hour (YYYYMMDDHH),
// then field/value pairs to set when the move happens. A move to sent also
// counts the hourly "send" bucket; ARGV[4]/[5] name a ref key and its TTL.
var scriptTransition = newScript(`
local ok, cur = move(KEYS[1], KEYS[2], ARGV[1], ARGV[2])
if not ok then return {0, cur or ''} end
local n = tonumber(ARGV[6])
for i = 7, 6 + n * 2, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
if ARGV[1] == 'sent' then redis.call('HINCRBY', KEYS[2], 'h:send:' .. ARGV[3], 1) end
if ARGV[4] ~= '' then
  redis.call('SET', ARGV[4], string.sub(KEYS[1], 6), 'EX', ARGV[5])
end
return {1, cur}
`)

// scriptClaim: KEYS sms, msg, outbox; ARGV now, message code. Takes an SMS
// for sending: queued moves to sending; an SMS already sending (a retry
// after a transient error or a crash) is taken again. A running task proves
// its message was enqueued, so the message's outbox entry goes too (for a
// direct send this saves the intake a round trip). Returns {1, to, content,
// sender, type, attempts} or {0, status}.
var scriptClaim = newScript(`
redis.call('ZREM', KEYS[3], ARGV[2])
local st = redis.call('HGET', KEYS[1], 'st')
if st == 'queued' then
  move(KEYS[1], KEYS[2], 'sending', ARGV[1])
elseif st ~= 'sending' then
  return {0, st or ''}
end
local a = redis.call('HINCRBY', KEYS[1], 'a', 1)
local s = redis.call('HMGET', KEYS[1], 'to')
local m = redis.call('HMGET', KEYS[2], 'content', 'sender', 'type')
return {1, s[1], m[1] or '', m[2] or '', m[3] or '', a}
`)

// scriptMaterialize: KEYS sms, msg; ARGV to, now, ttl. Creates the record of
// one recipient of a fanned-out message if it does not exist yet: queued, or
// canceled when the message was canceled meanwhile. The scheduled counter
// moves to the new status. Returns the record's status.
var scriptMaterialize = newScript(`
local st = redis.call('HGET', KEYS[1], 'st')
if st then return st end
st = 'queued'
if redis.call('HGET', KEYS[2], 'canceled') == '1' then st = 'canceled' end
redis.call('HSET', KEYS[1], 'm', string.sub(KEYS[2], 6), 'to', ARGV[1], 'st', st, 'up', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('HINCRBY', KEYS[2], 'c:scheduled', -1)
redis.call('HINCRBY', KEYS[2], 'c:' .. st, 1)
return st
`)

// scriptFanoutStart: KEYS msg, outbox; ARGV code. Marks a message's fan-out
// as started unless a cancel got there first; clears its outbox entry.
var scriptFanoutStart = newScript(`
redis.call('ZREM', KEYS[2], ARGV[1])
local fo = redis.call('HGET', KEYS[1], 'fo')
if fo == false then return 'missing' end
if fo == 'canceled' then return 'canceled' end
if fo == '' then redis.call('HSET', KEYS[1], 'fo', 'started') end
return 'ok'
`)

// scriptCancel: KEYS msg; ARGV now. Marks a message canceled if anything of
// it is still pending. If its fan-out has not started, every recipient that
// has no record yet is canceled in one counter move and the fan-out is told
// to do nothing. Returns 'sent' (nothing pending), 'unmaterialized' (done
// here) or 'sweep' (records exist that the caller must cancel one by one).
var scriptCancel = newScript(`
local h = redis.call('HMGET', KEYS[1], 'c:scheduled', 'c:queued', 'fo')
local sched, queued, fo = tonumber(h[1] or '0'), tonumber(h[2] or '0'), h[3]
if sched + queued <= 0 then return 'sent' end
redis.call('HSET', KEYS[1], 'canceled', '1', 'canceled_at', ARGV[1])
if fo == '' then
  redis.call('HSET', KEYS[1], 'fo', 'canceled')
  redis.call('HINCRBY', KEYS[1], 'c:scheduled', -sched)
  redis.call('HINCRBY', KEYS[1], 'c:canceled', sched)
  return 'unmaterialized'
end
return 'sweep'
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

// scriptRegisterDevice: KEYS device, devices set; ARGV phone, user prefix,
// user id (empty keeps the current one, or the phone for a new device),
// now ms, #pairs, pairs (fields to set; a tag with an empty value is
// deleted).
var scriptRegisterDevice = redis.NewScript(`
local phone, prefix, user, now = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local old = redis.call('HGET', KEYS[1], 'u')
if user == '' then user = old or phone end
if old and old ~= user then redis.call('SREM', prefix .. old, phone) end
redis.call('HSET', KEYS[1], 'u', user, 'up', now)
redis.call('HSETNX', KEYS[1], 'ct', now)
local n = tonumber(ARGV[5])
for i = 6, 5 + n * 2, 2 do
  if ARGV[i + 1] == '' then redis.call('HDEL', KEYS[1], ARGV[i]) else redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
end
redis.call('SADD', prefix .. user, phone)
redis.call('SADD', KEYS[2], phone)
return old and 0 or 1
`)

// scriptUnregisterDevice: KEYS device, devices set; ARGV phone, user prefix.
var scriptUnregisterDevice = redis.NewScript(`
local old = redis.call('HGET', KEYS[1], 'u')
if not old then return 0 end
redis.call('SREM', ARGV[2] .. old, ARGV[1])
redis.call('SREM', KEYS[2], ARGV[1])
redis.call('DEL', KEYS[1])
return 1
`)

// scriptSetTags: KEYS device; ARGV now, pairs. Only for a registered device.
var scriptSetTags = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'up', ARGV[1])
for i = 2, #ARGV, 2 do
  if ARGV[i + 1] == '' then redis.call('HDEL', KEYS[1], ARGV[i]) else redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
end
return 1
`)

var allScripts = []*redis.Script{
	scriptTransition, scriptClaim, scriptMaterialize, scriptFanoutStart, scriptCancel,
	scriptCancelSMS, scriptCreateMessage, scriptRegisterDevice, scriptUnregisterDevice, scriptSetTags,
}
