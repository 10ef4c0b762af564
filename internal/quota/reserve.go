package quota

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/smsfleet/smsfleet/internal/config"
)

// Use is what one SMS uses of its application's quotas.
type Use struct {
	SMS      int64
	Segments int64
	Money    config.Micros
}

// Store reserves and reports quota use in Redis.
type Store struct {
	rdb    redis.UniversalClient
	quotas func(app string) config.Quotas
	now    func() time.Time
}

// NewStore makes a quota store; quotas gives an application's quotas and
// now the clock the periods are taken from (UTC).
func NewStore(rdb redis.UniversalClient, quotas func(app string) config.Quotas, now func() time.Time) *Store {
	if now == nil {
		now = time.Now
	}
	return &Store{rdb: rdb, quotas: quotas, now: now}
}

// Quotas is app's quotas.
func (s *Store) Quotas(app string) config.Quotas { return s.quotas(app) }

// Reservation is what Reserve came to.
type Reservation struct {
	// OK: the SMS may go (reserved now, or before).
	OK bool
	// Again: the SMS had been reserved before (a retry): nothing counted.
	Again bool
	// Over is the quota that refused the SMS (when !OK), Used what it had
	// used and Limit its limit.
	Over        config.QuotaKind
	Used, Limit int64
	// Warnings are the thresholds this reservation crossed first, each
	// claimed by it alone across pods: Warn publishes them.
	Warnings []Warning
}

// scriptReserve checks and counts one SMS against every quota of its
// application, for the day and the month, in one step.
//
// KEYS[1] -> sf:qt:{app}:d:{day}
// KEYS[2] -> sf:qt:{app}:m:{month}
// KEYS[3] -> sf:qv:{app}:{id}
// KEYS[4..9] -> sf:qw:{app}:{quota}:{period}, one per quota kind
// ARGV[1..3] -> SMS, segments, money (millionths) to add
// ARGV[4] -> the reservation's value; ARGV[5..7] -> TTL seconds of the
// reservation, the day totals, the month totals
// ARGV[8..13] -> each kind's limit (0: none); ARGV[14..19] -> each kind's
// warning threshold; ARGV[20] -> a pending warning's TTL (seconds)
//
// Returns {1, 1} when the SMS was reserved before; {0, kind, used} when
// kind's quota refuses it (nothing counted); else {1, 0, kind...} with
// the kinds whose warning this step claimed (SET NX).
var scriptReserve = redis.NewScript(`
if redis.call('EXISTS', KEYS[3]) == 1 then return {1, 1} end
local add = {tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])}
local cur = {redis.call('HMGET', KEYS[1], 's', 'g', 'c'), redis.call('HMGET', KEYS[2], 's', 'g', 'c')}
local function used(k)
  local unit = math.floor((k + 1) / 2)
  local period = 2 - (k % 2)
  return tonumber(cur[period][unit] or '0'), add[unit]
end
for k = 1, 6 do
  local limit = tonumber(ARGV[7 + k])
  local u, a = used(k)
  if limit > 0 and a > 0 and u + a > limit then return {0, k, u} end
end
for i, f in ipairs({'s', 'g', 'c'}) do
  if add[i] > 0 then
    redis.call('HINCRBY', KEYS[1], f, add[i])
    redis.call('HINCRBY', KEYS[2], f, add[i])
  end
end
redis.call('EXPIRE', KEYS[1], ARGV[6])
redis.call('EXPIRE', KEYS[2], ARGV[7])
redis.call('SET', KEYS[3], ARGV[4], 'EX', ARGV[5])
local out = {1, 0}
for k = 1, 6 do
  local limit, th = tonumber(ARGV[7 + k]), tonumber(ARGV[13 + k])
  local u, a = used(k)
  if limit > 0 and u + a >= th and redis.call('SET', KEYS[3 + k], 'p', 'NX', 'EX', ARGV[20]) then
    table.insert(out, k)
  end
end
return out
`)

// Reserve counts what SMS id of app uses against the application's
// quotas, unless one of them would be exceeded (then nothing is
// counted). An SMS reserved before is not counted again.
func (s *Store) Reserve(ctx context.Context, app, id string, use Use) (Reservation, error) {
	qs := s.quotas(app)
	if !qs.Any() {
		return Reservation{OK: true}, nil
	}
	now := s.now().UTC()
	day, month := dayOf(now), monthOf(now)
	keys := []string{dayKey(app, day), monthKey(app, month), reservationKey(app, id)}
	args := []any{use.SMS, use.Segments, int64(use.Money),
		strings.Join([]string{day, strconv.FormatInt(use.SMS, 10), strconv.FormatInt(use.Segments, 10), strconv.FormatInt(int64(use.Money), 10)}, "|"),
		seconds(reservationTTL), seconds(dayTTL), seconds(monthTTL)}
	for k := range config.NumQuotas {
		keys = append(keys, warningKey(app, k, periodOf(k, now)))
		args = append(args, qs[k].Limit)
	}
	for k := range config.NumQuotas {
		args = append(args, threshold(qs[k]))
	}
	args = append(args, seconds(pendingTTL))
	res, err := scriptReserve.Run(ctx, s.rdb, keys, args...).Int64Slice()
	if err != nil {
		return Reservation{}, fmt.Errorf("quota: reserve sms %s of %s: %w", id, app, err)
	}
	switch {
	case res[0] == 1 && res[1] == 1:
		return Reservation{OK: true, Again: true}, nil
	case res[0] == 0:
		k := config.QuotaKind(res[1] - 1)
		return Reservation{Over: k, Used: res[2], Limit: qs[k].Limit}, nil
	}
	out := Reservation{OK: true}
	for _, n := range res[2:] {
		k := config.QuotaKind(n - 1)
		period := periodOf(k, now)
		out.Warnings = append(out.Warnings, Warning{App: app, Quota: k, Period: period, Limit: qs[k].Limit,
			WarnPercent: qs[k].WarnPercent, Threshold: threshold(qs[k]), At: now, PeriodEnd: PeriodEnd(k, now)})
	}
	return out, nil
}

// scriptRelease takes back a reservation, once: only while it still holds
// the value the caller read (a concurrent release finds it gone).
//
// KEYS[1] -> sf:qt:{app}:d:{day of the reservation}
// KEYS[2] -> sf:qt:{app}:m:{its month}
// KEYS[3] -> sf:qv:{app}:{id}
// ARGV[1] -> the reservation's value; ARGV[2..4] -> SMS, segments, money
//
// Returns 1 when released, 0 when there was nothing (left) to release.
var scriptRelease = redis.NewScript(`
if redis.call('GET', KEYS[3]) ~= ARGV[1] then return 0 end
for i, f in ipairs({'s', 'g', 'c'}) do
  local n = tonumber(ARGV[1 + i])
  if n > 0 then
    if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HINCRBY', KEYS[1], f, -n) end
    if redis.call('EXISTS', KEYS[2]) == 1 then redis.call('HINCRBY', KEYS[2], f, -n) end
  end
end
redis.call('DEL', KEYS[3])
return 1
`)

// Release takes back what SMS id of app reserved, in the periods it was
// reserved in (a release after midnight gives back yesterday's); it
// reports whether there was a reservation to release.
func (s *Store) Release(ctx context.Context, app, id string) (bool, error) {
	rk := reservationKey(app, id)
	v, err := s.rdb.Get(ctx, rk).Result()
	if err == redis.Nil {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("quota: release sms %s of %s: %w", id, app, err)
	}
	f := strings.Split(v, "|")
	if len(f) != 4 || len(f[0]) != 8 {
		return false, fmt.Errorf("quota: release sms %s of %s: malformed reservation %q", id, app, v)
	}
	keys := []string{dayKey(app, f[0]), monthKey(app, f[0][:6]), rk}
	n, err := scriptRelease.Run(ctx, s.rdb, keys, v, f[1], f[2], f[3]).Int64()
	if err != nil {
		return false, fmt.Errorf("quota: release sms %s of %s: %w", id, app, err)
	}
	return n == 1, nil
}

func seconds(d time.Duration) int64 { return int64(d / time.Second) }
