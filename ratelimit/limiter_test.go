package ratelimit

import (
	"context"
	"errors"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/smsfleet/smsfleet/internal/redisx"
	"github.com/smsfleet/smsfleet/internal/testenv"
	"github.com/smsfleet/smsfleet/ratelimit/ratelimittest"
)

// The scripts read Redis TIME, so time cannot be simulated: the rate tests
// run for real seconds, but they judge the limiter in Redis's time, not the
// test process's (see package ratelimittest): every Allow is recorded with
// the Redis TIME around its script, and ratelimittest.CheckKey replays GCRA
// over the record.
// The upper bound (never more than burst + rate×window, in any window) is
// strict; the lower bound (the limit is used) allows exactly the Redis time
// during which no request came, which is what a loaded machine changes. No
// check compares with a wall-clock duration.

// group is a set of goroutines sending one kind of request.
type group struct {
	req        Request
	goroutines int
	allowed    atomic.Int64 // decisions allowed
}

// hammer runs every group at once for d. Each goroutine sends its request
// as fast as it can and sleeps RetryAfter when denied, like a worker does;
// goroutine i uses limiters[i % len(limiters)]. It returns the elapsed time
// from just before the first request to just after the last one.
func hammer(t *testing.T, limiters []*Limiter, d time.Duration, groups ...*group) time.Duration {
	t.Helper()
	ctx := context.Background()
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(d)
	n := 0
	for _, g := range groups {
		for range g.goroutines {
			l := limiters[n%len(limiters)]
			n++
			wg.Go(func() {
				for time.Now().Before(deadline) {
					dec, err := l.Allow(ctx, g.req)
					if err != nil {
						t.Errorf("allow: %v", err)
						return
					}
					if dec.Allowed {
						g.allowed.Add(1)
						continue
					}
					if dec.RetryAfter <= 0 {
						t.Errorf("denied with RetryAfter %v", dec.RetryAfter)
						return
					}
					time.Sleep(min(dec.RetryAfter, time.Until(deadline)))
				}
			})
		}
	}
	wg.Wait()
	return time.Since(start)
}

func newLimiter(t *testing.T, r *testenv.Redis, o Options) *Limiter {
	return NewLimiter(r.Client(t), o)
}

// recordedLimiter is newLimiter on a client whose Allow calls rec records.
func recordedLimiter(t *testing.T, rec *ratelimittest.Recorder, r *testenv.Redis, o Options) *Limiter {
	c := r.Client(t)
	rec.Hook(c)
	return NewLimiter(c, o)
}

func TestRateAccuracyAcrossPods(t *testing.T) {
	r := testenv.NewRedis(t)
	rec := ratelimittest.NewRecorder(DefaultPrefix)
	// Three "pods", each with its own limiter and connection pool; the
	// record judges them together, as the one key they share.
	pods := []*Limiter{recordedLimiter(t, rec, r, Options{}), recordedLimiter(t, rec, r, Options{}), recordedLimiter(t, rec, r, Options{})}
	g := &group{req: Request{Key: "op:DE:Telekom", Limit: Limit{Rate: 100, Burst: 10}, Cost: 1}, goroutines: 30}
	hammer(t, pods, 3*time.Second, g)
	kr := ratelimittest.CheckKey(t, rec, "op:DE:Telekom", ratelimittest.Exact, DefaultOTPShare, 100, 100)
	if kr.Segments != float64(g.allowed.Load()) {
		t.Errorf("recorded %.0f admissions, the pods counted %d", kr.Segments, g.allowed.Load())
	}
}

func TestCostIsCharged(t *testing.T) {
	r := testenv.NewRedis(t)
	rec := ratelimittest.NewRecorder(DefaultPrefix)
	l := recordedLimiter(t, rec, r, Options{})
	lim := Limit{Rate: 100, Burst: 10}
	one := &group{req: Request{Key: "op:one", Limit: lim, Cost: 1}, goroutines: 10}
	two := &group{req: Request{Key: "op:two", Limit: lim, Cost: 2}, goroutines: 10}
	hammer(t, []*Limiter{l}, 2*time.Second, one, two)
	// CheckKey counts segments: the cost-2 key passes its bounds only if
	// each of its SMS took two segments of the 100/s (charged one, it
	// would exceed the upper bound twice over).
	k1 := ratelimittest.CheckKey(t, rec, "op:one", ratelimittest.Exact, DefaultOTPShare, 100, 100)
	k2 := ratelimittest.CheckKey(t, rec, "op:two", ratelimittest.Exact, DefaultOTPShare, 100, 100)
	if k1.Segments != float64(one.allowed.Load()) || k2.Segments != 2*float64(two.allowed.Load()) {
		t.Errorf("recorded %.0f and %.0f segments, the goroutines were allowed %d and %d SMS", k1.Segments, k2.Segments, one.allowed.Load(), two.allowed.Load())
	}

	// Status counts segments, not messages.
	st, err := l.Status(context.Background(), []string{"op:two"}, []Limit{lim})
	if err != nil {
		t.Fatal(err)
	}
	if want := 2 * two.allowed.Load(); st[0].RecentSegments != want {
		t.Errorf("RecentSegments = %d, want %d", st[0].RecentSegments, want)
	}
}

func TestCostAboveBurstPassesOnEmptyBucket(t *testing.T) {
	r := testenv.NewRedis(t)
	l := newLimiter(t, r, Options{})
	ctx := context.Background()
	lim := Limit{Rate: 100, Burst: 5}
	// A 10-segment SMS on an idle key passes although it exceeds the burst...
	d, err := l.Allow(ctx, Request{Key: "k", Limit: lim, Cost: 10})
	if err != nil || !d.Allowed {
		t.Fatalf("first long SMS: %+v, %v; want allowed", d, err)
	}
	// ...and leaves the key in debt for its whole cost (10 / 100/s = 100 ms):
	// a second one must wait until the bucket is empty again, and so must a
	// small one, since the debt is larger than the burst.
	for _, cost := range []int{10, 1} {
		d, err = l.Allow(ctx, Request{Key: "k", Limit: lim, Cost: cost})
		if err != nil || d.Allowed {
			t.Fatalf("cost %d right after: %+v, %v; want denied", cost, d, err)
		}
		if d.RetryAfter <= 0 || d.RetryAfter > 100*time.Millisecond {
			t.Errorf("cost %d: RetryAfter %v, want in (0, 100ms]", cost, d.RetryAfter)
		}
	}
}

// A limit far above anything Redis can serve must simply always allow: the
// emission interval is then below the resolution of the time arithmetic.
func TestHugeLimit(t *testing.T) {
	r := testenv.NewRedis(t)
	l := newLimiter(t, r, Options{})
	for i := range 100 {
		d, err := l.Allow(context.Background(), Request{Key: "k", Limit: Limit{Rate: 1e12, Burst: 1}, Cost: 1, Marketing: i%2 == 0})
		if err != nil || !d.Allowed {
			t.Fatalf("decision %d: %+v, %v", i, d, err)
		}
	}
}

func TestMarketingShare(t *testing.T) {
	r := testenv.NewRedis(t)
	rec := ratelimittest.NewRecorder(DefaultPrefix)
	l := recordedLimiter(t, rec, r, Options{}) // OTPShare 0.2
	lim := Limit{Rate: 100, Burst: 10}
	ls := []*Limiter{l}

	t.Run("alone", func(t *testing.T) {
		m := &group{req: Request{Key: "op:alone", Limit: lim, Cost: 1, Marketing: true}, goroutines: 20}
		hammer(t, ls, 3*time.Second, m)
		// The sub-limit is 80 % of both rate and burst: CheckKey holds
		// marketing to 8 + 80/s × window (strict) and, as marketing is
		// alone on the key, to at least 80/s of the Redis time someone
		// asked. The key's own bucket (100/s) never binds.
		kr := ratelimittest.CheckKey(t, rec, "op:alone", ratelimittest.Exact, DefaultOTPShare, 100, 100)
		if floor := 80*(kr.MarketingSpan-kr.MarketingIdle) + 1; kr.Marketing < floor {
			t.Errorf("marketing alone: %.0f segments, want at least its 80/s: %.1f", kr.Marketing, floor)
		}
	})
	t.Run("with OTP", func(t *testing.T) {
		m := &group{req: Request{Key: "op:both", Limit: lim, Cost: 1, Marketing: true}, goroutines: 20}
		o := &group{req: Request{Key: "op:both", Limit: lim, Cost: 1}, goroutines: 10}
		hammer(t, ls, 3*time.Second, m, o)
		// Together they get exactly the key's rate (CheckKey: at most
		// 10 + 100/s × window in any window, at least 100/s of the Redis
		// time someone could use it), marketing never more than its
		// 8 + 80/s × window (CheckKey, the sub-limit's bucket, strict)...
		kr := ratelimittest.CheckKey(t, rec, "op:both", ratelimittest.Exact, DefaultOTPShare, 100, 100)
		mk, otp := kr.Marketing, kr.Segments-kr.Marketing
		t.Logf("over %.3f s of Redis time: marketing %.0f (%.1f/s), otp %.0f (%.1f/s)", kr.Span, mk, mk/kr.Span, otp, otp/kr.Span)
		// ...so OTPs keep at least their 20 % although marketing saturates
		// the key: the key's floor minus marketing's ceiling, both exact.
		// The ceiling's window is marketing's first to last admission,
		// within the key's span give or take the microseconds of the
		// brackets: one segment covers them.
		if floor := (100*(kr.Span-kr.Idle) + 1) - (8 + 80*kr.Span) - 1; otp < floor {
			t.Errorf("otp %.0f below its reserved share %.1f", otp, floor)
		}
		if float64(m.allowed.Load()) != mk || float64(o.allowed.Load()) != otp {
			t.Errorf("recorded marketing %.0f and otp %.0f, the goroutines counted %d and %d", mk, otp, m.allowed.Load(), o.allowed.Load())
		}
	})
}

func TestMarketingAllOrNothing(t *testing.T) {
	r := testenv.NewRedis(t)
	l := newLimiter(t, r, Options{})
	c := r.Client(t)
	ctx := context.Background()
	// 1/s so nothing meaningful refills during the test: the sub-limit is
	// 0.8/s with a burst of 8, the key 1/s with a burst of 10.
	lim := Limit{Rate: 1, Burst: 10}
	allow := func(mkt bool) Decision {
		t.Helper()
		d, err := l.Allow(ctx, Request{Key: "k", Limit: lim, Cost: 1, Marketing: mkt})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	for i := range 8 {
		if !allow(true).Allowed {
			t.Fatalf("marketing %d denied within its burst of 8", i)
		}
	}
	// The sub-limit is full: these are denied and must not charge the key.
	for range 5 {
		if d := allow(true); d.Allowed || d.RetryAfter <= 0 {
			t.Fatalf("marketing past its burst: %+v", d)
		}
	}
	// So the key still has exactly 2 of its 10 left for OTPs.
	for i := range 2 {
		if !allow(false).Allowed {
			t.Fatalf("otp %d denied: a denied marketing request charged the key", i)
		}
	}
	// Now both limits deny marketing: the key would allow again in ~1 s, the
	// sub-limit in ~1.25 s; RetryAfter is the larger.
	d := allow(true)
	if d.Allowed || d.RetryAfter <= time.Second || d.RetryAfter > 1250*time.Millisecond {
		t.Errorf("marketing with both full: %+v, want RetryAfter in (1s, 1.25s]", d)
	}
	if d := allow(false); d.Allowed || d.RetryAfter > time.Second {
		t.Errorf("otp with key full: %+v, want denied with RetryAfter <= 1s", d)
	}

	// The other way round: a full key denies marketing without charging
	// the sub-limit (its TAT key is never written).
	for range 10 {
		if _, err := l.Allow(ctx, Request{Key: "k2", Limit: lim, Cost: 1}); err != nil {
			t.Fatal(err)
		}
	}
	if d, err := l.Allow(ctx, Request{Key: "k2", Limit: lim, Cost: 1, Marketing: true}); err != nil || d.Allowed {
		t.Fatalf("marketing on a full key: %+v, %v", d, err)
	}
	if n := c.Exists(ctx, DefaultPrefix+"m:{k2}").Val(); n != 0 {
		t.Errorf("a denied marketing request charged the sub-limit")
	}
}

func TestAdaptiveDecreaseAndFloor(t *testing.T) {
	r := testenv.NewRedis(t)
	// Recovery so slow it cannot move the numbers during the test.
	l := newLimiter(t, r, Options{RecoverEvery: time.Hour})
	ctx := context.Background()
	lim := Limit{Rate: 100, Burst: 10}
	eff := func() float64 {
		t.Helper()
		d, err := l.Allow(ctx, Request{Key: "k", Limit: lim, Cost: 1})
		if err != nil {
			t.Fatal(err)
		}
		st, err := l.Status(ctx, []string{"k"}, []Limit{lim})
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(d.EffectiveRate-st[0].EffectiveRate) > 0.01 {
			t.Errorf("Decision says %v, Status says %v", d.EffectiveRate, st[0].EffectiveRate)
		}
		return d.EffectiveRate
	}
	near := func(got, want float64) bool { return math.Abs(got-want) < 0.01 }

	if got := eff(); got != 100 {
		t.Fatalf("untouched key: effective %v, want 100", got)
	}
	if err := l.Throttled(ctx, "k", lim); err != nil {
		t.Fatal(err)
	}
	if got := eff(); !near(got, 50) {
		t.Fatalf("after one throttle: effective %v, want 50", got)
	}
	if err := l.Throttled(ctx, "k", lim); err != nil {
		t.Fatal(err)
	}
	if got := eff(); !near(got, 25) {
		t.Fatalf("after two throttles: effective %v, want 25", got)
	}
	for range 20 {
		if err := l.Throttled(ctx, "k", lim); err != nil {
			t.Fatal(err)
		}
	}
	if got := eff(); !near(got, 10) {
		t.Fatalf("after many throttles: effective %v, want the floor 10", got)
	}
}

func TestAdaptiveRateIsEnforced(t *testing.T) {
	r := testenv.NewRedis(t)
	rec := ratelimittest.NewRecorder(DefaultPrefix)
	l := recordedLimiter(t, rec, r, Options{RecoverEvery: time.Hour})
	lim := Limit{Rate: 100, Burst: 10}
	if err := l.Throttled(context.Background(), "k", lim); err != nil {
		t.Fatal(err)
	}
	g := &group{req: Request{Key: "k", Limit: lim, Cost: 1}, goroutines: 10}
	hammer(t, []*Limiter{l}, 2*time.Second, g)
	// Every decision must have used the halved rate (recovering by 10/s
	// per hour: < 0.03/s over the test's seconds, even a slow minute), and
	// CheckKey holds the admissions to it, both ways.
	kr := ratelimittest.CheckKey(t, rec, "k", ratelimittest.Exact, DefaultOTPShare, 50, 50.2)
	t.Logf("allowed at the halved rate: %.0f in %.3f s of Redis time", kr.Segments, kr.Span)
}

func TestAdaptiveRecovery(t *testing.T) {
	r := testenv.NewRedis(t)
	// +10/s of rate every 100 ms: from 50 back to 100 in 500 ms.
	l := newLimiter(t, r, Options{RecoverEvery: 100 * time.Millisecond})
	ctx := context.Background()
	lim := Limit{Rate: 100, Burst: 10}
	status := func() float64 {
		t.Helper()
		st, err := l.Status(ctx, []string{"k"}, []Limit{lim})
		if err != nil {
			t.Fatal(err)
		}
		return st[0].EffectiveRate
	}
	before := time.Now()
	if err := l.Throttled(ctx, "k", lim); err != nil {
		t.Fatal(err)
	}
	after := time.Now()
	time.Sleep(200 * time.Millisecond)
	// The decrease happened between before and after, so the rate now is
	// 50 + 100/s × (time since the decrease), bounded by both.
	lo := 50 + 100*time.Since(after).Seconds()
	got := status()
	hi := 50 + 100*time.Since(before).Seconds()
	if got < lo-0.01 || got > hi+0.01 {
		t.Errorf("recovering: effective %.2f, want in [%.2f, %.2f]", got, lo, hi)
	}
	if got >= 100 {
		t.Errorf("recovering: effective %.2f already back at 100", got)
	}
	time.Sleep(time.Until(after.Add(600 * time.Millisecond)))
	if got := status(); got != 100 {
		t.Errorf("after full recovery: effective %v, want exactly the configured 100", got)
	}
	// Allow reports the same rate.
	d, err := l.Allow(ctx, Request{Key: "k", Limit: lim, Cost: 1})
	if err != nil || d.EffectiveRate != 100 {
		t.Errorf("Allow after recovery: %+v, %v", d, err)
	}
}

func TestStatus(t *testing.T) {
	r := testenv.NewRedis(t)
	c := r.Client(t)
	var rtt redisx.RoundTrips
	c.AddHook(&rtt)
	l := NewLimiter(c, Options{})
	ctx := context.Background()
	big := Limit{Rate: 1000, Burst: 1000}
	small := Limit{Rate: 1, Burst: 3}

	want := int64(0)
	for i := range 20 {
		cost := 1 + i%3
		if _, err := l.Allow(ctx, Request{Key: "busy", Limit: big, Cost: cost}); err != nil {
			t.Fatal(err)
		}
		want += int64(cost)
	}
	// Denied segments are not counted: 3 allowed, then denials.
	for range 10 {
		if _, err := l.Allow(ctx, Request{Key: "tight", Limit: small, Cost: 1}); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Throttled(ctx, "tight", small); err != nil {
		t.Fatal(err)
	}

	keys, limits := []string{"busy", "tight", "never"}, []Limit{big, small, {Rate: 7, Burst: 1}}
	// The first Status meets NOSCRIPT and sends the pipeline again with
	// EVAL; from then on it is one round trip however many keys.
	if _, err := l.Status(ctx, keys, limits); err != nil {
		t.Fatal(err)
	}
	before := rtt.Count()
	st, err := l.Status(ctx, keys, limits)
	if err != nil {
		t.Fatal(err)
	}
	if n := rtt.Count() - before; n != 1 {
		t.Errorf("Status took %d round trips, want 1", n)
	}
	check := func(s Status, key string, eff float64, segs int64) {
		t.Helper()
		if s.Key != key || math.Abs(s.EffectiveRate-eff) > 0.01 || s.RecentSegments != segs {
			t.Errorf("status %+v, want key %s effective %v segments %d", s, key, eff, segs)
		}
	}
	check(st[0], "busy", 1000, want)
	check(st[1], "tight", 0.5, 3) // rate 1 halved; the recovery in the meantime is negligible
	check(st[2], "never", 7, 0)   // unknown key: the configured rate
	if st[2].Configured != (Limit{Rate: 7, Burst: 1}) {
		t.Errorf("Configured = %+v", st[2].Configured)
	}

	if _, err := l.Status(ctx, []string{"a"}, nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("mismatched lengths: %v", err)
	}
	if st, err := l.Status(ctx, nil, nil); err != nil || len(st) != 0 {
		t.Errorf("no keys: %v, %v", st, err)
	}
}

// After Redis loses its scripts (restart, SCRIPT FLUSH) everything still
// works: Allow through Script.Run, Status through its EVAL fallback.
func TestScriptFlush(t *testing.T) {
	r := testenv.NewRedis(t)
	c := r.Client(t)
	l := NewLimiter(c, Options{})
	ctx := context.Background()
	lim := Limit{Rate: 100, Burst: 10}
	for range 2 {
		if err := c.ScriptFlush(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		if d, err := l.Allow(ctx, Request{Key: "k", Limit: lim, Cost: 1}); err != nil || !d.Allowed {
			t.Fatalf("allow after flush: %+v, %v", d, err)
		}
		if err := c.ScriptFlush(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		if _, err := l.Status(ctx, []string{"k", "j"}, []Limit{lim, lim}); err != nil {
			t.Fatalf("status after flush: %v", err)
		}
		if err := c.ScriptFlush(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		if err := l.Throttled(ctx, "k", lim); err != nil {
			t.Fatalf("throttled after flush: %v", err)
		}
	}
}

// Idle keys cost no memory: every key expires once it stops mattering.
func TestKeysExpire(t *testing.T) {
	r := testenv.NewRedis(t)
	c := r.Client(t)
	l := NewLimiter(c, Options{Prefix: "x:"})
	ctx := context.Background()
	lim := Limit{Rate: 100, Burst: 10}
	d, err := l.Allow(ctx, Request{Key: "k", Limit: lim, Cost: 3, Marketing: true})
	if err != nil || !d.Allowed {
		t.Fatalf("%+v, %v", d, err)
	}
	if err := l.Throttled(ctx, "k", lim); err != nil {
		t.Fatal(err)
	}
	keys, err := c.Keys(ctx, "x:*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 4 { // TAT, marketing TAT, adaptive state, one usage bucket
		t.Errorf("keys %v, want 4", keys)
	}
	for _, k := range keys {
		ttl := c.PTTL(ctx, k).Val()
		var max time.Duration
		switch k[:4] {
		case "x:t:":
			max = 30 * time.Millisecond // 3 segments at 100/s
		case "x:m:":
			max = 38 * time.Millisecond // 3 segments at 80/s
		case "x:a:":
			max = 6 * time.Second // 50 → 100 at +10/s per second, plus 1 s
		case "x:u:":
			max = usageBucketTTL * time.Second
		}
		if ttl <= 0 || ttl > max {
			t.Errorf("%s: PTTL %v, want in (0, %v]", k, ttl, max)
		}
	}
}

func TestValidationBeforeRedis(t *testing.T) {
	// Nothing listens there; the hook proves no command is even attempted.
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1})
	t.Cleanup(func() { _ = c.Close() })
	var rtt redisx.RoundTrips
	c.AddHook(&rtt)
	l := NewLimiter(c, Options{})
	ctx := context.Background()
	ok := Limit{Rate: 10, Burst: 1}
	bad := []Request{
		{Key: "k", Limit: Limit{Rate: 0, Burst: 1}, Cost: 1},
		{Key: "k", Limit: Limit{Rate: -5, Burst: 1}, Cost: 1},
		{Key: "k", Limit: Limit{Rate: math.NaN(), Burst: 1}, Cost: 1},
		{Key: "k", Limit: Limit{Rate: math.Inf(1), Burst: 1}, Cost: 1},
		{Key: "k", Limit: Limit{Rate: 10, Burst: -1}, Cost: 1},
		{Key: "k", Limit: ok, Cost: 0},
		{Key: "k", Limit: ok, Cost: -2},
		{Key: "", Limit: ok, Cost: 1},
	}
	for _, r := range bad {
		if _, err := l.Allow(ctx, r); !errors.Is(err, ErrInvalid) {
			t.Errorf("Allow(%+v) = %v, want ErrInvalid", r, err)
		}
	}
	if err := l.Throttled(ctx, "k", Limit{Rate: 0}); !errors.Is(err, ErrInvalid) {
		t.Errorf("Throttled with rate 0: %v", err)
	}
	if _, err := l.Status(ctx, []string{"k"}, []Limit{{Rate: -1}}); !errors.Is(err, ErrInvalid) {
		t.Errorf("Status with rate -1: %v", err)
	}
	if n := rtt.Count(); n != 0 {
		t.Errorf("%d commands sent for invalid requests, want 0", n)
	}
	// A valid request does reach Redis (and fails there): the hook counts.
	if _, err := l.Allow(ctx, Request{Key: "k", Limit: ok, Cost: 1}); err == nil || errors.Is(err, ErrInvalid) {
		t.Errorf("valid request against no server: %v", err)
	}
	if rtt.Count() == 0 {
		t.Error("the hook saw no command: the zero count above proves nothing")
	}
}

func TestOptionDefaults(t *testing.T) {
	o := NewLimiter(nil, Options{OTPShare: 1.5, DecreaseFactor: -1, Floor: 2}).Options()
	want := Options{OTPShare: DefaultOTPShare, DecreaseFactor: DefaultDecreaseFactor, Floor: DefaultFloor,
		RecoverStep: DefaultRecoverStep, RecoverEvery: DefaultRecoverEvery, Prefix: DefaultPrefix}
	if o != want {
		t.Errorf("options %+v, want %+v", o, want)
	}
	keep := Options{OTPShare: 0.3, DecreaseFactor: 0.7, Floor: 0.2, RecoverStep: 0.05, RecoverEvery: 2 * time.Second, Prefix: "p:"}
	if o := NewLimiter(nil, keep).Options(); o != keep {
		t.Errorf("options %+v, want %+v", o, keep)
	}
}
