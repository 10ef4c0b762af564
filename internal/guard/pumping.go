package guard

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/smsfleet/smsfleet/internal/config"
)

// Key prefixes of the OTP pumping counters (guard.go lists them).
const (
	pPhone  = "sf:gp:"
	pPrefix = "sf:gx:"
	pMinute = "sf:gm:"
)

func phoneKey(app, phone string) string   { return pPhone + "{" + app + "}:" + phone }
func prefixKey(app, prefix string) string { return pPrefix + "{" + app + "}:" + prefix }
func minuteKey(app, prefix string, min int64) string {
	return pMinute + "{" + app + "}:" + prefix + ":" + strconv.FormatInt(min, 10)
}

// Pumping counts OTP per phone (sliding hour) and per number prefix
// (sliding minute) of each application. The worker charges every OTP it is
// about to send (Charge: the count that decides, idempotent per SMS id);
// intake peeks at the counts to refuse a request whose phones are already
// over (Peek), so a pumping burst is mostly refused at the door and what
// slips past concurrently is suppressed at send time: nothing over a cap
// is ever sent.
type Pumping struct {
	rdb redis.UniversalClient
	now func() time.Time
}

// NewPumping makes the counters on rdb; now is the clock the windows are
// read on (nil: time.Now).
func NewPumping(rdb redis.UniversalClient, now func() time.Time) *Pumping {
	if now == nil {
		now = time.Now
	}
	return &Pumping{rdb: rdb, now: now}
}

const (
	hourMS   = int64(time.Hour / time.Millisecond)
	minuteMS = int64(time.Minute / time.Millisecond)
)

// Peek returns the refusal of the first of phones (E.164, distinct) that
// would go over a cap if the request were sent: its count in the window
// plus the request's own SMS to the phone, or to its prefix. idx is its
// index in phones.
func (p *Pumping) Peek(ctx context.Context, app string, rules Rules, phones []string) (idx int, ref *Refusal, err error) {
	if !rules.Pumping() || len(phones) == 0 {
		return -1, nil, nil
	}
	now := p.now().UnixMilli()
	pipe := p.rdb.Pipeline()
	byPhone := make([]*redis.IntCmd, len(phones))
	byPrefix := map[string]*redis.IntCmd{}
	for i, ph := range phones {
		if rules.OTPPerPhoneHour > 0 {
			byPhone[i] = pipe.ZCount(ctx, phoneKey(app, ph), strconv.FormatInt(now-hourMS, 10), "+inf")
		}
		pre := rules.Prefix(ph)
		if _, ok := byPrefix[pre]; !ok && rules.OTPPerPrefixMinute > 0 {
			byPrefix[pre] = pipe.ZCount(ctx, prefixKey(app, pre), strconv.FormatInt(now-minuteMS, 10), "+inf")
		}
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return -1, nil, fmt.Errorf("guard: OTP counts of %s: %w", app, err)
	}
	// The request's own SMS count as they come: the first phone that
	// would pass a cap is the one named.
	pending := map[string]int64{}
	for i, ph := range phones {
		if c := byPhone[i]; c != nil && c.Val()+1 > int64(rules.OTPPerPhoneHour) {
			return i, phoneRefusal(rules), nil
		}
		pre := rules.Prefix(ph)
		pending[pre]++
		if c := byPrefix[pre]; c != nil && c.Val()+pending[pre] > int64(rules.OTPPerPrefixMinute) {
			return i, prefixRefusal(rules, pre), nil
		}
	}
	return -1, nil, nil
}

func phoneRefusal(r Rules) *Refusal {
	return refuse(RuleOTPPhone, "over the OTP cap of this phone (guards.otp_per_phone_hour %d)", r.OTPPerPhoneHour)
}

func prefixRefusal(r Rules, prefix string) *Refusal {
	return refuse(RuleOTPPrefix, "over the OTP cap of number prefix %s (guards.otp_per_prefix_minute %d, guards.prefix_digits %d)",
		prefix, r.OTPPerPrefixMinute, r.PrefixDigits)
}

// scriptCharge counts one OTP SMS to a phone and its prefix, unless a cap
// is reached, and tells whether its prefix just turned hot.
//
// KEYS[1] sf:gp:{app}:{phone}, KEYS[2] sf:gx:{app}:{prefix},
// KEYS[3] sf:gm:{app}:{prefix}:{this minute}, KEYS[4..] the previous minutes'.
// ARGV: now ms, SMS id, phone cap (0 none), prefix cap (0 none), anomaly
// factor, anomaly floor, minute counter TTL ms.
//
// Returns {allowed 0/1, refused by 1 phone / 2 prefix, hot 0/1, count this minute}.
var scriptCharge = redis.NewScript(`
local now, id = tonumber(ARGV[1]), ARGV[2]
local plim, xlim = tonumber(ARGV[3]), tonumber(ARGV[4])
-- A retry of an SMS already counted counts nothing again.
if (plim > 0 and redis.call('ZSCORE', KEYS[1], id)) or redis.call('ZSCORE', KEYS[2], id) then
  return {1, 0, 0, 0}
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - 3600000)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - 60000)
if plim > 0 and redis.call('ZCARD', KEYS[1]) >= plim then return {0, 1, 0, 0} end
if xlim > 0 and redis.call('ZCARD', KEYS[2]) >= xlim then return {0, 2, 0, 0} end
if plim > 0 then
  redis.call('ZADD', KEYS[1], now, id)
  redis.call('PEXPIRE', KEYS[1], 3600000)
end
redis.call('ZADD', KEYS[2], now, id)
redis.call('PEXPIRE', KEYS[2], 60000)
local c = redis.call('INCR', KEYS[3])
redis.call('PEXPIRE', KEYS[3], tonumber(ARGV[7]))
local sum = 0
for i = 4, #KEYS do sum = sum + tonumber(redis.call('GET', KEYS[i]) or '0') end
local t = math.max(tonumber(ARGV[6]), math.floor(tonumber(ARGV[5]) * sum / (#KEYS - 3)))
-- Counts rise by one: exactly one SMS crosses the threshold each minute.
local hot = 0
if c == t + 1 then hot = 1 end
return {1, 0, hot, c}
`)

// Charge is the send-time decision for one OTP SMS (id) to phone: counted
// and allowed, or the refusal of the cap it would pass. hot reports that
// this SMS made its prefix suddenly hot (once per prefix and minute).
func (p *Pumping) Charge(ctx context.Context, app string, rules Rules, id, phone string) (ref *Refusal, hot bool, err error) {
	if !rules.Pumping() {
		return nil, false, nil
	}
	now := p.now()
	pre := rules.Prefix(phone)
	minute := now.Unix() / 60
	keys := []string{phoneKey(app, phone), prefixKey(app, pre), minuteKey(app, pre, minute)}
	for i := int64(1); i <= config.AnomalyMinutes; i++ {
		keys = append(keys, minuteKey(app, pre, minute-i))
	}
	ttl := int64(config.AnomalyMinutes+2) * minuteMS
	res, err := scriptCharge.Run(ctx, p.rdb, keys, now.UnixMilli(), id, rules.OTPPerPhoneHour, rules.OTPPerPrefixMinute,
		rules.AnomalyFactor, rules.AnomalyFloor, ttl).Int64Slice()
	if err != nil {
		return nil, false, fmt.Errorf("guard: count OTP of %s: %w", app, err)
	}
	if len(res) != 4 {
		return nil, false, fmt.Errorf("guard: count OTP of %s: unexpected reply %v", app, res)
	}
	switch {
	case res[0] == 1:
		return nil, res[2] == 1, nil
	case res[1] == 1:
		return phoneRefusal(rules), false, nil
	}
	return prefixRefusal(rules, pre), false, nil
}
