package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/smsfleet/smsfleet/internal/config"
	"github.com/smsfleet/smsfleet/internal/e2e/harness"
	"github.com/smsfleet/smsfleet/internal/fleet"
	"github.com/smsfleet/smsfleet/internal/provider"
	"github.com/smsfleet/smsfleet/ratelimit"
	"github.com/smsfleet/smsfleet/ratelimit/ratelimittest"
)

// frPhones returns n distinct valid French mobile numbers (operator FR:SFR
// per libphonenumber's carrier data).
func frPhones(from, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("+336120%05d", from+i)
	}
	return out
}

func limited(limits string) func(*config.Config, *fleet.Roles) {
	return func(c *config.Config, r *fleet.Roles) {
		r.Worker = false
		c.Rate = config.Default().Rate
		c.Rate.Limits = limits
	}
}

// arrivals returns when the provider received SMS to numbers with prefix,
// sorted.
func arrivals(e *harness.Env, prefix string) []time.Time {
	var out []time.Time
	for _, m := range e.Sim.Messages("", 100000) {
		if strings.HasPrefix(m.To, prefix) {
			out = append(out, m.ReceivedAt)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Before(out[j]) })
	return out
}

func TestOperatorRateHoldsAcrossThreePodsWithoutHeadOfLineBlocking(t *testing.T) {
	if testing.Short() {
		t.Skip("1,800 sends, 1,200 of them paced at 100/s")
	}
	e := harness.New(t, limited("DE:T-Mobile=100/10"))
	// The limited operator gets twice the SMS of the unlimited one, so it
	// is still busy, paced by its limit, long after the other's 600 have
	// gone out, whatever the machine's load (see below).
	const nDE, nFR = 1200, 600
	de, fr := harness.Phones(5000, nDE), frPhones(5000, nFR)
	ctx := context.Background()
	if err := e.Fleet.Store().RegisterDevices(ctx, harness.ShopApp, append(append([]string{}, de...), fr...)); err != nil {
		t.Fatal(err)
	}
	// The limited operator's SMS are queued first, ahead of the others.
	deCode := e.Send(map[string]any{"send_date": "now", "content": "x", "devices": de})
	frCode := e.Send(map[string]any{"send_date": "now", "content": "x", "devices": fr})
	rec := ratelimittest.NewRecorder(ratelimit.DefaultPrefix)
	const pods = 3
	for range pods {
		startRecordedPod(t, e, rec)
	}
	// Hang guards only: nothing below compares with them.
	e.WaitCounts(frCode, map[string]int64{"sent": nFR}, 3*time.Minute)
	e.WaitCounts(deCode, map[string]int64{"sent": nDE}, 5*time.Minute)

	// No head-of-line blocking, counted rather than timed. Every limited
	// SMS was queued ahead of every unlimited one; if a waiting limited
	// SMS blocked the queue, the last unlimited SMS could start only once
	// every limited one had started, so no more than the fleet's handlers
	// (pods × concurrency) of them could still be unsent when it arrived.
	// The unlimited operator must overtake more than that. How long its
	// 600 take depends on the machine; the limited 1,200 need at least
	// 12 s of Redis time at 100/s however fast the machine is, which
	// leaves a loaded machine about 10 s for the 600.
	deAt, frAt := arrivals(e, "+4915112"), arrivals(e, "+336")
	lastFR := frAt[len(frAt)-1]
	deBefore := sort.Search(len(deAt), func(i int) bool { return deAt[i].After(lastFR) })
	handlers := pods * e.Config.Worker.Concurrency
	t.Logf("DE:T-Mobile: %d SMS in %s; FR:SFR: %d in %s, done with %d DE:T-Mobile SMS still unsent",
		len(deAt), deAt[len(deAt)-1].Sub(deAt[0]), len(frAt), frAt[len(frAt)-1].Sub(frAt[0]), len(deAt)-deBefore)
	if unsent := len(deAt) - deBefore; unsent <= handlers {
		t.Errorf("the unlimited operator finished with only %d of the limited one's %d SMS unsent, no more than the %d handlers: head-of-line blocking", unsent, len(deAt), handlers)
	}

	// The fleet-wide rate, judged in Redis time over the three pods'
	// decisions together (ratelimittest.CheckKey): never more than 10 + 100/s × W
	// segments in any window W, strictly; every refusal made while the
	// bucket was full, with a RetryAfter no longer than it needed; and
	// the limit used: at least 100/s of the Redis time during which some
	// pod was asking. Idle time is what a busy machine costs (pods
	// descheduled, tasks deferred to asynq and back), so it is logged,
	// not bounded: the limiter cannot be blamed for capacity nobody asked
	// for.
	kr := ratelimittest.CheckKey(t, rec, "DE:T-Mobile", ratelimittest.Suffix, ratelimit.DefaultOTPShare, 100, 100)
	if kr.Segments != nDE {
		t.Errorf("the limiter admitted %.0f segments for %d single-segment SMS", kr.Segments, nDE)
	}
	v := e.Message(deCode)
	if op := v.Recipients[0].Operator; op != "DE:T-Mobile" {
		t.Errorf("recipient operator %q, want DE:T-Mobile", op)
	}
	for _, r := range v.Recipients[:50] {
		if r.Attempts != 1 {
			t.Fatalf("waiting for the limiter used attempts: %+v", r)
		}
	}
}

func TestMultiSegmentSMSAreChargedTheirSegments(t *testing.T) {
	e := harness.New(t, limited("DE:T-Mobile=40/4"))
	de := harness.Phones(5700, 40)
	if err := e.Fleet.Store().RegisterDevices(context.Background(), harness.ShopApp, de); err != nil {
		t.Fatal(err)
	}
	code := e.Send(map[string]any{"send_date": "now", "content": strings.Repeat("a", 300), "devices": de}) // 2 segments each
	harness.StartPod(t, e)
	e.WaitCounts(code, map[string]int64{"sent": 40}, 20*time.Second)
	at := arrivals(e, "+4915112")
	span := at[len(at)-1].Sub(at[0])
	// 80 segments at 40/s with a burst of 4: about 1.9 s, not the 0.9 s that
	// charging one per SMS would give.
	if span < 1500*time.Millisecond {
		t.Fatalf("40 two-segment SMS went out in %s: charged one segment each?", span)
	}
}

type rateLimitsView struct {
	Limits []struct {
		Key            string
		ConfiguredRate float64 `json:"configured_rate"`
		EffectiveRate  float64 `json:"effective_rate"`
		RecentSegments int64   `json:"recent_segments"`
	}
}

func rateLimits(e *harness.Env) rateLimitsView {
	e.T.Helper()
	var v rateLimitsView
	if st := e.Native("/api/v1/ratelimits", harness.ShopToken, &v); st != 200 {
		e.T.Fatalf("GET /api/v1/ratelimits: HTTP %d", st)
	}
	return v
}

func TestThrottlingLowersTheEffectiveRateAndItRecovers(t *testing.T) {
	e := harness.New(t, func(c *config.Config, r *fleet.Roles) {
		limited("DE:T-Mobile=50/5")(c, r)
		c.Rate.RecoverEvery = 200 * time.Millisecond
		c.Breaker = config.Breaker{Window: 2 * time.Second, MinRequests: 5, FailureRatio: 0.5, OpenTimeout: 300 * time.Millisecond, Probes: 2}
		c.Providers = []provider.Config{{Name: "sim-a", Kind: provider.KindSimulator}}
		c.DefaultRoute = config.Route{Providers: []string{"sim-a"}}
	})
	to := harness.Phones(6000, 1)[0]
	e.Register(harness.ShopApp, harness.ShopToken, to)
	if v := rateLimits(e); len(v.Limits) != 1 || v.Limits[0].Key == "" || v.Limits[0].EffectiveRate != 50 {
		t.Fatalf("before: %+v", v)
	}
	fault(e, "sim-a", map[string]any{"throttle_rate": 1})
	harness.StartPod(t, e)
	code := e.Send(map[string]any{"send_date": "now", "content": "x", "devices": []string{to}})
	harness.Eventually(t, 5*time.Second, func() bool { return rateLimits(e).Limits[0].EffectiveRate < 50 },
		func() string { return "a throttling provider did not lower the effective rate" })
	low := rateLimits(e).Limits[0].EffectiveRate
	fault(e, "sim-a", map[string]any{"throttle_rate": 0})
	e.WaitCounts(code, map[string]int64{"sent": 1}, 10*time.Second)
	// Additive recovery back to the configured rate.
	harness.Eventually(t, 10*time.Second, func() bool { return rateLimits(e).Limits[0].EffectiveRate >= 50 },
		func() string {
			return fmt.Sprintf("effective rate stuck at %v (lowered to %v)", rateLimits(e).Limits[0].EffectiveRate, low)
		})
	if v := rateLimits(e); v.Limits[0].RecentSegments < 1 {
		t.Fatalf("recent usage %+v", v)
	}
}

func TestOTPGetsItsShareWhileMarketingSaturatesTheOperator(t *testing.T) {
	if testing.Short() {
		t.Skip("a few seconds of saturated sending")
	}
	e := harness.New(t, limited("DE:T-Mobile=50/5"))
	mkt, otp := harness.Phones(6100, 300), harness.Phones(6500, 40)
	ctx := context.Background()
	if err := e.Fleet.Store().RegisterDevices(ctx, harness.ShopApp, append(append([]string{}, mkt...), otp...)); err != nil {
		t.Fatal(err)
	}
	for _, ph := range mkt {
		if err := e.Fleet.Store().SetTags(ctx, harness.ShopApp, ph, map[string]json.RawMessage{"SMSMarketingConsent": json.RawMessage("true")}); err != nil {
			t.Fatal(err)
		}
	}
	e.Send(map[string]any{"send_date": "now", "content": "sale", "devices": mkt, "message_type": "marketing"})
	harness.StartPod(t, e)
	time.Sleep(time.Second) // the campaign saturates the operator's marketing share
	start := time.Now()
	var codes []string
	for _, ph := range otp {
		codes = append(codes, e.Send(map[string]any{"send_date": "now", "content": "123456", "devices": []string{ph}, "message_type": "otp"}))
		time.Sleep(50 * time.Millisecond) // 20 security codes a second: the reserved 20 % of 50/s is 10/s, plus spare
	}
	waitAll(e, codes, "sent", 20*time.Second)
	took := time.Since(start)
	// 40 OTPs in a 2 s trickle: with 10/s reserved plus whatever marketing
	// leaves, they finish while the campaign (300 at most 40/s, 7.5 s of
	// the limiter's time) is still sending, not behind it. That is judged
	// by counting what the campaign had sent when the last OTP was, not by
	// the wall clock: a descheduled test process slows the trickle and the
	// campaign alike, so load cannot fake or hide a wait behind it.
	mktSent := 0
	for _, m := range e.Sim.Messages("", 1000) {
		if m.Text == "sale" {
			mktSent++
		}
	}
	t.Logf("40 OTPs in %s while the campaign had sent %d", took.Round(time.Millisecond), mktSent)
	if mktSent == 300 {
		t.Fatal("the campaign was finished before the OTPs: nothing was saturated")
	}
}

func TestBadRateLimitsStopStartUpBeforeRedis(t *testing.T) {
	for _, tt := range []struct{ limits, overrides, want string }{
		{"US=0", "", `entry 1 "US=0": rate must be positive`},
		{"DE:T-Mobile=-5", "", "rate must be positive"},
		{"DE:T-Mobile=abc", "", "entry 1"},
		{"", "4915112=DE:T-Mobile", "OPERATOR_OVERRIDES"},
	} {
		cfg := harness.TestConfig(t)
		cfg.Redis.Addr = "127.0.0.1:1" // nothing listens: the config must fail first
		cfg.Rate = config.Default().Rate
		cfg.Rate.Limits, cfg.Rate.OperatorOverrides = tt.limits, tt.overrides
		_, err := fleet.New(context.Background(), fleet.Options{Config: cfg, Roles: fleet.Roles{API: true, Worker: true}})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("limits %q overrides %q: error %v, want %q", tt.limits, tt.overrides, err, tt.want)
		}
	}
}

// startRecordedPod is harness.StartPod on a client whose Allow calls rec
// records (see package ratelimittest): the rate test judges the limiter in
// its own time, Redis's TIME. On a busy machine the test process, the pods
// and the simulator are descheduled at will, so arrival times at the
// simulator say little about the limiter: a pod paused between admission
// and send bunches SMS up (a window looks faster than the limit) or spreads
// them (slower). Redis times of the admissions do not move with that.
func startRecordedPod(t *testing.T, e *harness.Env, rec *ratelimittest.Recorder) {
	harness.StandaloneOnly(t, "times the limiter's admissions with TIME on the one server (ratelimittest)")
	c := redis.NewClient(&redis.Options{Addr: e.Redis.Addr, PoolSize: 64})
	t.Cleanup(func() { _ = c.Close() })
	rec.Hook(c)
	harness.StartWorkerOn(t, e, c)
}
