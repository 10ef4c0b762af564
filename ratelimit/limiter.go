package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Option defaults; see Options.
const (
	DefaultOTPShare       = 0.2
	DefaultDecreaseFactor = 0.5
	DefaultFloor          = 0.1
	DefaultRecoverStep    = 0.1
	DefaultRecoverEvery   = time.Second
	DefaultPrefix         = "sf:rl:"
)

// usageWindow is how far back Status.RecentSegments looks, in seconds; the
// per-second usage buckets live twice as long so a window never reads a
// bucket that is about to vanish.
const (
	usageWindow    = 60
	usageBucketTTL = 2 * usageWindow
)

// Options tunes a Limiter. A zero or out-of-range field takes its default:
// NewLimiter has no error to return, and a fleet limiter that silently ran
// with, say, a decrease factor of 0 would stop all traffic on the first
// throttle.
type Options struct {
	// OTPShare is the share of each key's rate reserved for non-marketing
	// traffic (OTPs, alerts): marketing may use at most (1-OTPShare) of the
	// effective rate and of the burst. Default 0.2; must be in (0, 1).
	OTPShare float64
	// DecreaseFactor is the multiplicative decrease applied by Throttled.
	// Default 0.5; must be in (0, 1).
	DecreaseFactor float64
	// Floor bounds the effective rate from below as a fraction of the
	// configured rate, so a burst of throttles cannot starve a key. Default
	// 0.1; must be in (0, 1].
	Floor float64
	// RecoverStep is the additive increase, as a fraction of the configured
	// rate, per RecoverEvery after the last decrease. Default 0.1.
	RecoverStep float64
	// RecoverEvery is the period of RecoverStep. Default 1s.
	RecoverEvery time.Duration
	// Prefix starts every Redis key the limiter writes. Default "sf:rl:".
	Prefix string
}

func (o Options) withDefaults() Options {
	if !(o.OTPShare > 0 && o.OTPShare < 1) {
		o.OTPShare = DefaultOTPShare
	}
	if !(o.DecreaseFactor > 0 && o.DecreaseFactor < 1) {
		o.DecreaseFactor = DefaultDecreaseFactor
	}
	if !(o.Floor > 0 && o.Floor <= 1) {
		o.Floor = DefaultFloor
	}
	if !(o.RecoverStep > 0) || math.IsInf(o.RecoverStep, 0) {
		o.RecoverStep = DefaultRecoverStep
	}
	if o.RecoverEvery <= 0 {
		o.RecoverEvery = DefaultRecoverEvery
	}
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	return o
}

// Limiter is a fleet-wide GCRA rate limiter kept in Redis: every worker on
// every pod that shares the Redis shares the limits. It holds no local
// state, so it is safe for concurrent use and cheap to create.
//
// Keys written (P = Options.Prefix, K = Request.Key):
//
//	P+"t:{"+K+"}"        GCRA theoretical arrival time (TAT) of the key
//	P+"m:{"+K+"}"        TAT of the key's marketing sub-limit
//	P+"a:{"+K+"}"        adaptive state: rate at, and time of, the last decrease
//	P+"u:{"+K+"}:"+S     segments allowed during unix second S (Redis time)
//
// All of them expire once they no longer change any decision, so idle keys
// cost no memory. The limiter key is the hash tag of every key it writes,
// so one operator's keys share one Redis Cluster slot (the scripts build
// the usage key from Redis time, inside the script) and different
// operators spread over the masters (issue 15). The braces came with
// Redis Cluster support: the first start after the upgrade begins every
// key's state afresh, which at worst lets one burst through per key.
type Limiter struct {
	rdb redis.UniversalClient
	o   Options
}

// NewLimiter returns a limiter on rdb; see Options for the defaults.
func NewLimiter(rdb redis.UniversalClient, o Options) *Limiter {
	return &Limiter{rdb: rdb, o: o.withDefaults()}
}

// Options returns the options in force, defaults filled in.
func (l *Limiter) Options() Options { return l.o }

// Request is one rate-limit decision to take.
type Request struct {
	Key       string // limiter key (from Limits.For), e.g. "op:DE:Telekom"
	Limit     Limit  // configured rate (segments/s) and burst (segments)
	Cost      int    // segments of this SMS (>= 1)
	Marketing bool   // also check the marketing sub-limit (1-OTPShare) of the same key, atomically
}

// Decision is the outcome of Allow.
type Decision struct {
	Allowed bool
	// RetryAfter, when not allowed, is how long until this cost would be
	// allowed if nobody else took the capacity first. Zero when allowed.
	RetryAfter time.Duration
	// EffectiveRate is the adaptive rate in force for the key (the whole
	// key, not the marketing sub-limit), in segments per second.
	EffectiveRate float64
}

// Status is the state of one key as Status reports it.
type Status struct {
	Key            string
	Configured     Limit
	EffectiveRate  float64 // adaptive rate in force now
	RecentSegments int64   // segments allowed in the last 60 s
}

// ErrInvalid is wrapped by every validation error, which Allow, Throttled
// and Status return before talking to Redis.
var ErrInvalid = errors.New("ratelimit: invalid request")

func validLimit(key string, lim Limit) error {
	if key == "" {
		return fmt.Errorf("%w: empty key", ErrInvalid)
	}
	if !(lim.Rate > 0) || math.IsInf(lim.Rate, 0) {
		return fmt.Errorf("%w: key %q: rate %v must be a positive number", ErrInvalid, key, lim.Rate)
	}
	if lim.Burst < 0 {
		return fmt.Errorf("%w: key %q: burst %d is negative", ErrInvalid, key, lim.Burst)
	}
	return nil
}

// burst returns the burst the scripts use. A zero burst is taken as 1: one
// SMS at a time, exactly at the rate, is the tightest limit that still lets
// traffic through.
func burst(lim Limit) float64 {
	if lim.Burst < 1 {
		return 1
	}
	return float64(lim.Burst)
}

// Allow takes one decision for r in one Redis round trip and, when it is
// allowed, charges r.Cost segments to the key (and to its marketing
// sub-limit for marketing traffic).
//
// A cost larger than the burst is allowed when the bucket is empty (nothing
// charged that is still pending), and then puts the bucket in debt: the
// next requests wait until the whole cost has been paid at the rate. Plain
// GCRA would deny such a request forever (a 10-segment SMS behind a burst of
// 5), and dropping long messages is worse than briefly overshooting the
// burst; the long-run rate stays exact.
func (l *Limiter) Allow(ctx context.Context, r Request) (Decision, error) {
	if err := validLimit(r.Key, r.Limit); err != nil {
		return Decision{}, err
	}
	if r.Cost < 1 {
		return Decision{}, fmt.Errorf("%w: key %q: cost %d must be at least 1", ErrInvalid, r.Key, r.Cost)
	}
	mkt := 0
	if r.Marketing {
		mkt = 1
	}
	keys := []string{l.key("t", r.Key), l.key("a", r.Key), l.key("m", r.Key)}
	args := append(l.adaptiveArgs(r.Limit.Rate),
		burst(r.Limit), r.Cost, mkt, 1-l.o.OTPShare, l.usagePrefix(r.Key))
	// Script.Run sends EVALSHA and falls back to EVAL on NOSCRIPT (Redis
	// restarted or flushed its scripts), which also reloads the script.
	res, err := scriptAllow.Run(ctx, l.rdb, keys, args...).Slice()
	if err != nil {
		return Decision{}, fmt.Errorf("ratelimit: allow %q: %w", r.Key, err)
	}
	if len(res) != 3 {
		return Decision{}, fmt.Errorf("ratelimit: allow %q: unexpected reply %v", r.Key, res)
	}
	allowed, _ := res[0].(int64)
	waitUS, _ := res[1].(int64)
	eff, err := parseRate(res[2])
	if err != nil {
		return Decision{}, fmt.Errorf("ratelimit: allow %q: %w", r.Key, err)
	}
	d := Decision{Allowed: allowed == 1, EffectiveRate: eff}
	if !d.Allowed {
		d.RetryAfter = time.Duration(waitUS) * time.Microsecond
	}
	return d, nil
}

// Throttled records that a provider throttled traffic for key: the
// effective rate becomes max(Floor × configured, effective × DecreaseFactor)
// for the whole fleet, then recovers additively (RecoverStep × configured
// per RecoverEvery) back to the configured rate. Every call decreases, so
// callers that see one throttle per in-flight message should report it
// once per throttle event, not once per message.
func (l *Limiter) Throttled(ctx context.Context, key string, lim Limit) error {
	if err := validLimit(key, lim); err != nil {
		return err
	}
	args := append(l.adaptiveArgs(lim.Rate), l.o.DecreaseFactor)
	if err := scriptThrottled.Run(ctx, l.rdb, []string{l.key("a", key)}, args...).Err(); err != nil {
		return fmt.Errorf("ratelimit: throttled %q: %w", key, err)
	}
	return nil
}

// Status reports the effective rate and the segments allowed in the last
// 60 s of each key, limits[i] being the configured limit of keys[i]. It is
// one pipelined round trip however many keys there are. A key the limiter
// has never seen (or forgotten) shows its configured rate and 0 segments.
func (l *Limiter) Status(ctx context.Context, keys []string, limits []Limit) ([]Status, error) {
	if len(keys) != len(limits) {
		return nil, fmt.Errorf("%w: %d keys but %d limits", ErrInvalid, len(keys), len(limits))
	}
	for i, k := range keys {
		if err := validLimit(k, limits[i]); err != nil {
			return nil, err
		}
	}
	if len(keys) == 0 {
		return nil, nil
	}
	run := func(p redis.Pipeliner, eval bool) []*redis.Cmd {
		cmds := make([]*redis.Cmd, len(keys))
		for i, k := range keys {
			args := append(l.adaptiveArgs(limits[i].Rate), l.usagePrefix(k))
			ks := []string{l.key("a", k)}
			if eval {
				cmds[i] = scriptStatus.Eval(ctx, p, ks, args...)
			} else {
				cmds[i] = scriptStatus.EvalSha(ctx, p, ks, args...)
			}
		}
		return cmds
	}
	var cmds []*redis.Cmd
	_, err := l.rdb.Pipelined(ctx, func(p redis.Pipeliner) error { cmds = run(p, false); return nil })
	if err != nil && isNoScript(err, cmds) {
		// Redis lost the script: send the body this once (EVAL also caches
		// it, so the next Status is EVALSHA again). The script only reads.
		_, err = l.rdb.Pipelined(ctx, func(p redis.Pipeliner) error { cmds = run(p, true); return nil })
	}
	if err != nil {
		return nil, fmt.Errorf("ratelimit: status: %w", err)
	}
	out := make([]Status, len(keys))
	for i, c := range cmds {
		res, err := c.Slice()
		if err != nil || len(res) != 2 {
			return nil, fmt.Errorf("ratelimit: status %q: unexpected reply %v (%v)", keys[i], res, err)
		}
		eff, err := parseRate(res[0])
		if err != nil {
			return nil, fmt.Errorf("ratelimit: status %q: %w", keys[i], err)
		}
		n, _ := res[1].(int64)
		out[i] = Status{Key: keys[i], Configured: limits[i], EffectiveRate: eff, RecentSegments: n}
	}
	return out, nil
}

func isNoScript(err error, cmds []*redis.Cmd) bool {
	if redis.HasErrorPrefix(err, "NOSCRIPT") {
		return true
	}
	for _, c := range cmds {
		if c != nil && c.Err() != nil && redis.HasErrorPrefix(c.Err(), "NOSCRIPT") {
			return true
		}
	}
	return false
}

// adaptiveArgs are ARGV[1..4] of every script: what effective() needs.
func (l *Limiter) adaptiveArgs(rate float64) []any {
	return []any{rate, l.o.Floor, l.o.RecoverStep, float64(l.o.RecoverEvery) / float64(time.Microsecond)}
}

// key names one of the limiter's keys of kind ("t", "m", "a") for a
// limiter key, which is its hash tag.
func (l *Limiter) key(kind, key string) string { return l.o.Prefix + kind + ":{" + key + "}" }

func (l *Limiter) usagePrefix(key string) string { return l.key("u", key) + ":" }

func parseRate(v any) (float64, error) {
	s, ok := v.(string)
	if !ok {
		return 0, fmt.Errorf("rate reply %v is not a string", v)
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("rate reply %q: %w", s, err)
	}
	return f, nil
}

// luaCommon is the prelude of every script.
//
// Time is Redis server time (TIME), so the clocks of the workers do not
// matter, in microseconds since 2017-01-01: relative to that epoch the
// count stays an exact integer in a Lua double (as in redis_rate). Numbers
// go back to Redis as redis.call arguments (printed exactly) or as
// string.format('%.17g') replies: Lua's tostring keeps only 14 digits.
//
// effective() is the adaptive (AIMD) rate: the state holds the rate right
// after the last decrease (r) and when it happened (t), and the rate
// recovers linearly from there, computed lazily here instead of by a
// background goroutine. No state means the configured rate.
const luaCommon = `
if redis.replicate_commands then redis.replicate_commands() end
local EPOCH = 1483228800
local conf = tonumber(ARGV[1])
local floor_rate = tonumber(ARGV[2]) * conf
local step = tonumber(ARGV[3]) * conf
local every = tonumber(ARGV[4])
local time = redis.call('TIME')
local now_sec = tonumber(time[1])
local now = (now_sec - EPOCH) * 1000000 + tonumber(time[2])

local function effective(key)
  local eff = conf
  local st = redis.call('HMGET', key, 'r', 't')
  if st[1] and st[2] then
    local since = now - tonumber(st[2])
    if since < 0 then since = 0 end
    eff = tonumber(st[1]) + step * since / every
  end
  if eff > conf then eff = conf end
  if eff < floor_rate then eff = floor_rate end
  return eff
end
`

// scriptAllow is GCRA on one or two keys, all-or-nothing.
//
// The GCRA follows github.com/go-redis/redis_rate/v10 (itself after
// Brandur Leach's throttled): TAT is the theoretical arrival time, T the
// emission interval 1/rate and the burst tolerance burst×T; a request of
// cost c is allowed when max(TAT, now) + c×T - burst×T <= now, and then
// TAT becomes max(TAT, now) + c×T. We run our own script because a
// marketing request must pass two limits (the key and its marketing
// sub-limit) atomically and be charged to both or neither, in one round
// trip, with the rate taken from the adaptive state.
//
// Changes from redis_rate: the cost counted against the burst is capped at
// the burst, so a cost above the burst passes when the bucket is empty (see
// Allow); the wait is computed as (base - now) - (burst - c)×T so an empty
// bucket gives exactly 0 with no float error; usage is counted per second.
//
// KEYS: 1 TAT, 2 adaptive state, 3 marketing TAT.
// ARGV: 1-4 see luaCommon, 5 burst, 6 cost, 7 marketing (0/1),
// 8 marketing share (1-OTPShare), 9 usage key prefix.
// Reply: {allowed 0/1, wait in µs, effective rate}.
var scriptAllow = redis.NewScript(luaCommon + `
local burst = tonumber(ARGV[5])
local cost = tonumber(ARGV[6])
local marketing = ARGV[7] == '1'
local share = tonumber(ARGV[8])

local eff = effective(KEYS[2])

local function gcra(key, rate, b)
  local T = 1000000 / rate
  local base = tonumber(redis.call('GET', key) or 0)
  if base < now then base = now end
  local c = cost
  if c > b then c = b end
  return (base - now) - (b - c) * T, base + cost * T
end

local wait, tat = gcra(KEYS[1], eff, burst)
local mwait, mtat = 0, nil
if marketing then
  -- The sub-limit also scales the burst, so after an idle spell marketing
  -- cannot take the part of the burst that OTPs would need at once.
  mwait, mtat = gcra(KEYS[3], eff * share, burst * share)
end
if mwait > wait then wait = mwait end
local rate_s = string.format('%.17g', eff)
if wait > 0 then
  return {0, math.ceil(wait), rate_s}
end

-- The TAT key matters only while TAT is in the future: an absent key and a
-- past TAT decide alike, so it expires then. At least 1 ms: at huge rates
-- (T below the ~0.03 µs resolution of now) tat can equal now, and PX 0 is
-- an error.
local function ttl(t)
  local ms = math.ceil((t - now) / 1000)
  if ms < 1 then ms = 1 end
  return ms
end
redis.call('SET', KEYS[1], tat, 'PX', ttl(tat))
if marketing then
  redis.call('SET', KEYS[3], mtat, 'PX', ttl(mtat))
end
local ukey = ARGV[9] .. time[1]
redis.call('INCRBY', ukey, cost)
redis.call('EXPIRE', ukey, ` + strconv.Itoa(usageBucketTTL) + `)
return {1, 0, rate_s}
`)

// scriptThrottled applies one multiplicative decrease. The state expires
// when the rate is back at the configured one, when it no longer matters.
//
// KEYS: 1 adaptive state. ARGV: 1-4 see luaCommon, 5 decrease factor.
var scriptThrottled = redis.NewScript(luaCommon + `
local r = effective(KEYS[1]) * tonumber(ARGV[5])
if r < floor_rate then r = floor_rate end
redis.call('HSET', KEYS[1], 'r', r, 't', now)
local recover_ms = math.ceil((conf - r) / step * every / 1000) + 1000
redis.call('PEXPIRE', KEYS[1], recover_ms)
return string.format('%.17g', r)
`)

// scriptStatus reads one key's effective rate and sums the usage buckets of
// the last 60 seconds of Redis time. It only reads.
//
// KEYS: 1 adaptive state. ARGV: 1-4 see luaCommon, 5 usage key prefix.
// Reply: {effective rate, segments}.
var scriptStatus = redis.NewScript(luaCommon + `
local ukeys = {}
for i = 0, ` + strconv.Itoa(usageWindow-1) + ` do
  ukeys[#ukeys + 1] = ARGV[5] .. tostring(now_sec - i)
end
local n = 0
for _, v in ipairs(redis.call('MGET', unpack(ukeys))) do
  if v then n = n + tonumber(v) end
end
return {string.format('%.17g', effective(KEYS[1])), n}
`)
