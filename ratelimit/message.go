package ratelimit

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// MessageRates holds each message's SMS to its send_rate (createMessage's
// "send_rate": SMS per second for that message), fleet-wide: every worker
// of every pod that shares the Redis shares one budget per message. It
// runs beside the operator limits (Limiter): an SMS goes when both have
// room.
//
// The limit is GCRA with a burst of one: a message's SMS leave at least
// 1/rate apart, so any one-second window holds at most rate of them. One
// key per message, written by one script call (so trivially one Redis
// Cluster slot), its code the hash tag:
//
//	P+"msg:{"+code+"}"   theoretical arrival time of the message's next SMS (µs), PX until then
//
// It expires as soon as it no longer changes a decision, so a message
// costs nothing once its SMS have gone.
type MessageRates struct {
	rdb    redis.UniversalClient
	prefix string
	// now, when set, is the clock the decisions are taken on (tests drive
	// it); nil takes Redis server time, the same for every worker.
	now func() time.Time
}

// NewMessageRates returns the per-message limiter on rdb with prefix
// (DefaultPrefix when ""). now is nil in production (Redis time); a test
// passes its clock.
func NewMessageRates(rdb redis.UniversalClient, prefix string, now func() time.Time) *MessageRates {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	return &MessageRates{rdb: rdb, prefix: prefix, now: now}
}

// MessageKey is the limiter key of message code (the name Deferred reasons and
// waiter slots use).
func MessageKey(code string) string { return "msg:" + code }

// messageEpoch is the epoch of the script's microsecond clock (as the
// operator limiter's: counts stay exact in a Lua double).
const messageEpoch = 1483228800

// scriptMessageAllow is GCRA with a burst of one on one key.
//
// KEYS[1] -> P+"msg:{<code>}"
// ARGV[1] -> emission interval, µs (1e6 / rate)
// ARGV[2] -> now, µs since the epoch above ("" for Redis TIME)
//
// Returns {allowed 0/1, wait in µs}.
var scriptMessageAllow = redis.NewScript(`
if redis.replicate_commands then redis.replicate_commands() end
local T = tonumber(ARGV[1])
local now
if ARGV[2] ~= '' then
  now = tonumber(ARGV[2])
else
  local t = redis.call('TIME')
  now = (tonumber(t[1]) - ` + strconv.Itoa(messageEpoch) + `) * 1000000 + tonumber(t[2])
end
local tat = tonumber(redis.call('GET', KEYS[1]) or 0)
if tat > now then return {0, math.ceil(tat - now)} end
local next = now + T
-- A TAT in the past decides as an absent key, so the key may go once next
-- has passed. The expiry runs on Redis time: with a caller's clock
-- (ARGV[2], tests) that need not keep pace with it, the key stays an hour.
local ms = math.ceil(T / 1000)
if ARGV[2] ~= '' then ms = ms + 3600000 end
redis.call('SET', KEYS[1], string.format('%.17g', next), 'PX', ms)
return {1, 0}
`)

// Allow takes one decision for an SMS of message code, whose send_rate is
// rate (SMS per second, > 0): allowed (and charged), or the wait until the
// message's next SMS may go.
func (m *MessageRates) Allow(ctx context.Context, code string, rate int) (Decision, error) {
	if code == "" || rate < 1 {
		return Decision{}, fmt.Errorf("%w: message %q: send rate %d", ErrInvalid, code, rate)
	}
	now := ""
	if m.now != nil {
		now = strconv.FormatInt(m.now().UnixMicro()-messageEpoch*1_000_000, 10)
	}
	res, err := scriptMessageAllow.Run(ctx, m.rdb, []string{m.prefix + "msg:{" + code + "}"}, 1e6/float64(rate), now).Int64Slice()
	if err != nil {
		return Decision{}, fmt.Errorf("ratelimit: send rate of %s: %w", code, err)
	}
	if len(res) != 2 {
		return Decision{}, fmt.Errorf("ratelimit: send rate of %s: unexpected reply %v", code, res)
	}
	d := Decision{Allowed: res[0] == 1, EffectiveRate: float64(rate)}
	if !d.Allowed {
		d.RetryAfter = time.Duration(res[1]) * time.Microsecond
	}
	return d, nil
}
