package traffic

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/smsfleet/smsfleet/internal/config"
	"github.com/smsfleet/smsfleet/internal/sms"
)

// Quality measures each provider's delivery fleet-wide: how many SMS it
// accepted, and how many of them had a delivery receipt within the
// deadline, in buckets of a tenth of the window by the time of acceptance
// (keys.go). A bucket is judged once its SMS's deadline has passed: the
// window is the last Window of deadlines, as in GOV.UK Notify's rule.
//
// It is statistical, not a ledger: a pod that crashes between a
// provider's acceptance and Accepted leaves that SMS out of the figures
// (counted neither sent nor delivered), which shifts no verdict.
type Quality struct {
	rdb    redis.UniversalClient
	cfg    config.Quality
	bucket time.Duration
}

// NewQuality measures on rdb under cfg (a zero cfg: the defaults).
func NewQuality(rdb redis.UniversalClient, cfg config.Quality) *Quality {
	if cfg == (config.Quality{}) {
		cfg = config.Default().Quality
	}
	return &Quality{rdb: rdb, cfg: cfg, bucket: max(cfg.Window/10, time.Second)}
}

// Config is the rule the figures are judged by.
func (q *Quality) Config() config.Quality { return q.cfg }

// Accept is one SMS a provider accepted, to a phone of Country (ISO
// code, "" when unknown).
type Accept struct {
	Provider, Ref, Country string
	At                     time.Time
}

func (q *Quality) bucketOf(t time.Time) int64 { return t.UnixMilli() / q.bucket.Milliseconds() }

// ttl keeps a bucket until it has left the window.
func (q *Quality) ttl() time.Duration { return q.cfg.Window + q.cfg.Deadline + 2*q.bucket }

// The receipt clock of one SMS (sf:qr:{prov}:{ref}, keys.go) is started
// by its acceptance and stopped by its final receipt, whichever way round
// they come: a receipt can overtake the acceptance's count (it comes from
// the provider while the worker's batch is still calling the others). Each
// side is one single-key script, so the two cannot miss each other.

// startClock: KEYS[1] the clock; ARGV[1] accepted at (unix ms), ARGV[2]
// TTL (ms). A receipt's marker is taken and returned (the acceptance
// counts it); otherwise the clock starts, unless one runs already (the
// same SMS counted twice keeps its first clock). Returns the marker or false.
var startClock = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v then
  if string.sub(v, 1, 2) == 'r:' then redis.call('DEL', KEYS[1]); return v end
  return false
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return false
`)

// stopClock: KEYS[1] the clock; ARGV[1] the marker, ARGV[2] TTL (ms). A
// running clock is stopped and its start returned; with none, the
// receipt's marker is left (once) for the acceptance. Returns the start
// or false.
var stopClock = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v and string.sub(v, 1, 2) ~= 'r:' then redis.call('DEL', KEYS[1]); return v end
if not v then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) end
return false
`)

// Accepted counts SMS the providers accepted and starts each one's
// receipt clock (one pipelined round trip); a receipt that came first is
// counted now.
func (q *Quality) Accepted(ctx context.Context, as []Accept) error {
	var todo []Accept
	for _, a := range as {
		if a.Provider != "" && a.Ref != "" {
			todo = append(todo, a)
		}
	}
	if len(todo) == 0 {
		return nil
	}
	ttl := q.cfg.Deadline.Milliseconds()
	marks := make([]*redis.Cmd, len(todo))
	_, err := q.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, a := range todo {
			q.count(ctx, p, a.Provider, a.Country, a.At, "s", 1)
			marks[i] = startClock.Eval(ctx, p, []string{recvKey(a.Provider, a.Ref)}, clockValue(a.At, a.Country), ttl)
		}
		return nil
	})
	if err != nil && err != redis.Nil {
		return fmt.Errorf("quality: count accepted: %w", err)
	}
	_, err = q.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, a := range todo {
			v, _ := marks[i].Val().(string)
			if status, at, ok := parseMarker(v); ok {
				q.countDelivered(ctx, p, a.Provider, a.Country, a.At, status, at)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("quality: count early receipts: %w", err)
	}
	return nil
}

// earlyMarker starts what a receipt that came before its acceptance was
// counted leaves in the clock's place: "r:<status>:<unix ms>".
const earlyMarker = "r:"

func parseMarker(v string) (sms.Status, time.Time, bool) {
	rest, ok := strings.CutPrefix(v, earlyMarker)
	if !ok {
		return "", time.Time{}, false
	}
	status, ms, ok := strings.Cut(rest, ":")
	n, err := strconv.ParseInt(ms, 10, 64)
	if !ok || err != nil {
		return "", time.Time{}, false
	}
	return sms.Status(status), time.UnixMilli(n), true
}

// countDelivered counts one SMS accepted at sent whose final receipt said
// status at at: delivered within the deadline, with its latency.
func (q *Quality) countDelivered(ctx context.Context, p redis.Pipeliner, prov, country string, sent time.Time, status sms.Status, at time.Time) {
	lat := max(at.Sub(sent), 0)
	if status != sms.Delivered || lat > q.cfg.Deadline {
		return
	}
	q.count(ctx, p, prov, country, sent, "d", 1)
	q.count(ctx, p, prov, country, sent, "l", lat.Milliseconds())
}

// count adds n to field of the provider's bucket of sent and, with a
// country, to the provider × country bucket, remembering the country in
// the provider's (bounded: ISO codes) country set.
func (q *Quality) count(ctx context.Context, p redis.Pipeliner, prov, country string, sent time.Time, field string, n int64) {
	b := q.bucketOf(sent)
	k := bucketKey(prov, "", b)
	p.HIncrBy(ctx, k, field, n)
	p.Expire(ctx, k, q.ttl())
	if country == "" {
		return
	}
	ck := bucketKey(prov, country, b)
	p.HIncrBy(ctx, ck, field, n)
	p.Expire(ctx, ck, q.ttl())
	p.SAdd(ctx, countriesKey(prov), country)
	p.Expire(ctx, countriesKey(prov), q.ttl())
}

// clockValue is a running clock: "<unix ms>" or "<unix ms>|<country>".
func clockValue(at time.Time, country string) string {
	v := strconv.FormatInt(at.UnixMilli(), 10)
	if country != "" {
		v += "|" + country
	}
	return v
}

func parseClock(v string) (time.Time, string, bool) {
	ms, country, _ := strings.Cut(v, "|")
	n, err := strconv.ParseInt(ms, 10, 64)
	if err != nil {
		return time.Time{}, "", false
	}
	return time.UnixMilli(n), country, true
}

// Receipts counts final receipts: a delivered one whose SMS's clock is
// still running (its deadline has not passed) counts as delivered in
// time, with its latency. Any final receipt stops the clock, so a replayed
// receipt counts once. A receipt that finds no clock came too late, or
// before its acceptance was counted: it leaves a marker (for the
// deadline) that Accepted counts if it comes.
func (q *Quality) Receipts(ctx context.Context, rs []sms.Receipt) error {
	var final []sms.Receipt
	for _, r := range rs {
		if r.Final() && r.Provider != "" && r.Ref != "" {
			final = append(final, r)
		}
	}
	if len(final) == 0 {
		return nil
	}
	ttl := q.cfg.Deadline.Milliseconds()
	starts := make([]*redis.Cmd, len(final))
	if _, err := q.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, r := range final {
			marker := earlyMarker + string(r.Status) + ":" + strconv.FormatInt(r.At.UnixMilli(), 10)
			starts[i] = stopClock.Eval(ctx, p, []string{recvKey(r.Provider, r.Ref)}, marker, ttl)
		}
		return nil
	}); err != nil && err != redis.Nil {
		return fmt.Errorf("quality: stop receipt clocks: %w", err)
	}
	_, err := q.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, r := range final {
			v, _ := starts[i].Val().(string)
			sent, country, ok := parseClock(v)
			if !ok {
				continue // no clock: a marker was left
			}
			q.countDelivered(ctx, p, r.Provider, country, sent, r.Status, r.At)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("quality: count receipts: %w", err)
	}
	return nil
}

// Figures are one provider's delivery over the window.
type Figures struct {
	// Sent SMS whose deadline fell in the window, Delivered of them with a
	// delivery receipt within the deadline.
	Sent      int64 `json:"sent"`
	Delivered int64 `json:"delivered"`
	// Ratio is Delivered/Sent (1 with nothing sent).
	Ratio float64 `json:"delivery_ratio"`
	// LatencyMS is the mean receipt latency of the delivered ones.
	LatencyMS int64 `json:"receipt_latency_ms"`
	// Factor is the share of its weight the provider keeps (Floor..1).
	Factor float64 `json:"weight_factor"`
	// Judged: enough SMS (SMSFLEET_QUALITY_MIN_SMS) to judge.
	Judged bool `json:"judged"`
	// Countries are the same figures per country of the phones (ISO
	// code); a judged country's factor applies to its phones, the
	// provider's to the others.
	Countries map[string]Figures `json:"countries,omitempty"`
}

// factor is the rule: full weight while at most Threshold of the SMS went
// without a receipt in time (or too few SMS to judge); below, the weight
// falls in proportion to the delivery ratio, never under Floor, and
// climbs back as the ratio recovers.
func (q *Quality) factor(f Figures) float64 {
	if f.Sent < int64(q.cfg.MinSMS) || 1-f.Ratio <= q.cfg.Threshold {
		return 1
	}
	return min(max(f.Ratio/(1-q.cfg.Threshold), q.cfg.Floor), 1)
}

// Evaluate computes every provider's figures at now, overall and per
// country: over the buckets whose deadline has fully passed and fell
// within the last Window (two round trips).
func (q *Quality) Evaluate(ctx context.Context, providers []string, now time.Time) (map[string]Figures, error) {
	bms := q.bucket.Milliseconds()
	judged := now.Add(-q.cfg.Deadline).UnixMilli() // buckets ending by then are complete
	hi := judged/bms - 1                           // the last bucket that ended by judged
	lo := now.Add(-q.cfg.Deadline-q.cfg.Window).UnixMilli()/bms + 1
	countries := make(map[string]*redis.StringSliceCmd, len(providers))
	if _, err := q.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, prov := range providers {
			countries[prov] = p.SMembers(ctx, countriesKey(prov))
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("quality: read countries: %w", err)
	}
	type series struct{ prov, country string }
	cmds := map[series][]*redis.SliceCmd{}
	if _, err := q.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, prov := range providers {
			for _, cc := range append([]string{""}, countries[prov].Val()...) {
				for b := lo; b <= hi; b++ {
					s := series{prov, cc}
					cmds[s] = append(cmds[s], p.HMGet(ctx, bucketKey(prov, cc, b), "s", "d", "l"))
				}
			}
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("quality: read buckets: %w", err)
	}
	out := make(map[string]Figures, len(providers))
	for _, prov := range providers {
		f := q.figures(cmds[series{prov, ""}])
		for _, cc := range countries[prov].Val() {
			if cf := q.figures(cmds[series{prov, cc}]); cf.Sent > 0 {
				if f.Countries == nil {
					f.Countries = map[string]Figures{}
				}
				f.Countries[cc] = cf
			}
		}
		out[prov] = f
	}
	return out, nil
}

// figures sums a series of buckets and judges it.
func (q *Quality) figures(cmds []*redis.SliceCmd) Figures {
	var f Figures
	var lat int64
	for _, c := range cmds {
		v := c.Val()
		f.Sent += num(v, 0)
		f.Delivered += num(v, 1)
		lat += num(v, 2)
	}
	f.Ratio = 1
	if f.Sent > 0 {
		f.Ratio = min(float64(f.Delivered)/float64(f.Sent), 1)
	}
	if f.Delivered > 0 {
		f.LatencyMS = lat / f.Delivered
	}
	f.Judged = f.Sent >= int64(q.cfg.MinSMS)
	f.Factor = q.factor(f)
	return f
}

func num(v []any, i int) int64 {
	if i >= len(v) {
		return 0
	}
	s, _ := v[i].(string)
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}
