package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/smsfleet/smsfleet/internal/config"
	"github.com/smsfleet/smsfleet/internal/e2e/harness"
	"github.com/smsfleet/smsfleet/internal/fleet"
	"github.com/smsfleet/smsfleet/internal/provider"
	"github.com/smsfleet/smsfleet/ratelimit"
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
		c.Rate = config.NewRate()
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
	rec := newRecorder("")
	const pods = 3
	for range pods {
		rec.startPod(t, e)
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
	// decisions together (checkKey): never more than 10 + 100/s × W
	// segments in any window W, strictly; every refusal made while the
	// bucket was full, with a RetryAfter no longer than it needed; and
	// the limit used: at least 100/s of the Redis time during which some
	// pod was asking. Idle time is what a busy machine costs (pods
	// descheduled, tasks deferred to asynq and back), so it is logged,
	// not bounded: the limiter cannot be blamed for capacity nobody asked
	// for.
	kr := checkKey(t, rec, "DE:T-Mobile", ratelimit.DefaultOTPShare, 100, 100)
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
		cfg.Rate = config.NewRate()
		cfg.Rate.Limits, cfg.Rate.OperatorOverrides = tt.limits, tt.overrides
		_, err := fleet.New(context.Background(), fleet.Options{Config: cfg, Roles: fleet.Roles{API: true, Worker: true}})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("limits %q overrides %q: error %v, want %q", tt.limits, tt.overrides, err, tt.want)
		}
	}
}

// The rate test judges the limiter in its own time, Redis's TIME, as the
// ratelimit package's tests do (ratelimit/redistime_test.go, of which this
// is a copy: test files cannot share code across packages): the pods'
// clients run every Allow as MULTI; TIME; EVALSHA; TIME; EXEC, and
// checkKey replays GCRA over the record. On a busy machine the test
// process, the pods and the simulator are descheduled at will, so arrival
// times at the simulator say little about the limiter: a pod paused
// between admission and send bunches SMS up (a window looks faster than
// the limit) or spreads them (slower). Redis times of the admissions do
// not move with that.

// call is one Allow as Redis ran it.
type call struct {
	key           string  // KEYS[1], the TAT key
	cost          int     // ARGV[6]
	marketing     bool    // ARGV[7]
	burst         float64 // ARGV[5], the burst the script used
	allowed       bool    // reply[1]
	wait          int64   // reply[2], µs
	rate          float64 // reply[3], the effective rate the script used
	before, after int64   // Redis TIME around the script, µs
}

// recorder collects the Allow calls of every client it hooks.
type recorder struct {
	prefix string // the limiter's Options.Prefix
	mu     sync.Mutex
	calls  []call
	errs   []string
}

func newRecorder(prefix string) *recorder {
	if prefix == "" {
		prefix = ratelimit.DefaultPrefix
	}
	return &recorder{prefix: prefix}
}

// startPod is harness.StartPod on a client whose Allow calls rec records.
func (rec *recorder) startPod(t *testing.T, e *harness.Env) {
	c := redis.NewClient(&redis.Options{Addr: e.Redis.Addr, PoolSize: 64})
	t.Cleanup(func() { _ = c.Close() })
	c.AddHook(timeHook{rec: rec, c: c})
	harness.StartWorkerOn(t, e, c)
}

// timeHook brackets the allow script of its client with Redis TIME.
type timeHook struct {
	rec *recorder
	c   *redis.Client
}

func (h timeHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h timeHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

func (h timeHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		args := cmd.Args()
		name := strings.ToLower(cmd.Name())
		// EVALSHA/EVAL sha|body 3 t-key a-key m-key ARGV[1..9]: the allow script.
		if (name != "evalsha" && name != "eval") || len(args) != 3+3+9 || fmt.Sprint(args[2]) != "3" ||
			!strings.HasPrefix(fmt.Sprint(args[3]), h.rec.prefix+"t:") {
			return next(ctx, cmd)
		}
		var tb, ta *redis.TimeCmd
		// The pipeline goes through ProcessPipelineHook, not back here.
		_, _ = h.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
			tb = p.Time(ctx)
			_ = p.Process(ctx, cmd)
			ta = p.Time(ctx)
			return nil
		})
		if cmd.Err() != nil {
			return cmd.Err() // NOSCRIPT included: Script.Run then sends EVAL, which comes back here
		}
		res, err := cmd.(*redis.Cmd).Slice()
		num := func(v any) float64 { f, _ := strconv.ParseFloat(fmt.Sprint(v), 64); return f }
		if err != nil || len(res) != 3 || tb.Err() != nil || ta.Err() != nil {
			h.rec.mu.Lock()
			h.rec.errs = append(h.rec.errs, fmt.Sprintf("recording %v: %v %v %v %v", args[3], res, err, tb.Err(), ta.Err()))
			h.rec.mu.Unlock()
			return err
		}
		c := call{
			key: fmt.Sprint(args[3]), burst: num(args[10]), cost: int(num(args[11])), marketing: fmt.Sprint(args[12]) == "1",
			allowed: num(res[0]) == 1, wait: int64(num(res[1])), rate: num(res[2]),
			before: tb.Val().UnixMicro(), after: ta.Val().UnixMicro(),
		}
		h.rec.mu.Lock()
		h.rec.calls = append(h.rec.calls, c)
		h.rec.mu.Unlock()
		return nil
	}
}

// of returns the recorded calls on limiter key key, in the order Redis ran
// them.
func (rec *recorder) of(t *testing.T, key string) []call {
	t.Helper()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, e := range rec.errs {
		t.Error(e)
	}
	var out []call
	for _, c := range rec.calls {
		if strings.HasSuffix(c.key, key) {
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b call) int { return int(a.before - b.before) })
	for i := 1; i < len(out); i++ {
		if out[i].before < out[i-1].after {
			t.Fatalf("calls %d and %d overlap in Redis time (%+v, %+v): MULTI should make that impossible", i-1, i, out[i-1], out[i])
		}
	}
	if len(out) == 0 {
		t.Fatalf("no Allow recorded on %q", key)
	}
	return out
}

// bucketReport is what checkBucket found for one GCRA bucket.
type bucketReport struct {
	segments  float64 // segments charged to the bucket
	spanUS    float64 // Redis time from the first charge to the last
	idleUS    float64 // time within that span during which no relevant request came
	overLimit []string
	lowBudget string // the aggregate lower bound, when it fails
	// per call index: for a denial, whether this bucket justifies it and
	// the longest wait it can justify (µs).
	justified map[int]bool
	maxWait   map[int]float64
}

// checkBucket replays the GCRA of one bucket over calls (one key, in
// Redis order): the key's own bucket (share 1, charged by every
// admission) or its marketing sub-limit (share 1-OTPShare, charged by
// marketing admissions). Each admission's emission interval is the one the
// script used, 10⁶/(rate×share) µs with the rate from its reply, so the
// adaptive rate needs no special case.
//
// GCRA keeps TAT, the theoretical arrival time: an admission at now of cost
// c (≤ burst) needs TAT - now ≤ (burst-c)·T and sets TAT = max(TAT, now) +
// c·T. Unrolled, TAT after admissions 1..n is max over g of (t_g + Q(g..n)),
// Q being the sum of c·T; this is computed exactly up to the brackets.
//
//   - Upper bound (the safety property, strict): for every pair of
//     admissions i ≤ j, Q(i..j) ≤ (t_j - t_i) + burst·T_j; with a constant
//     rate, segments admitted in any window of Redis time W ≤ burst +
//     rate·W. Checked against the widest the window can have been
//     (after_j - before_i): no tolerance.
//   - Every denial is justified: the bucket was full (TAT - now >
//     (burst-c)·T) for some possible TAT and now, and RetryAfter is no
//     longer than the wait that TAT gives. A limiter that refused capacity
//     it had, or told callers to wait longer than needed, fails here.
//   - Aggregate lower bound: Q(all) ≥ (t_last - t_first) + c_last·T -
//     idle, where idle bounds the time the bucket was overflowing: before
//     each admission, the time since the last relevant request stopped
//     proving the bucket full (an admission proves TAT ≥ now + c·T, a
//     denial TAT > now + (burst-c)·T). Relevant requests are those the
//     bucket would have admitted had it had room (for the key: all but
//     marketing denials, which the sub-limit may cause). TAT only moves at
//     admissions, by c·T plus the capacity lost to overflow, hence the
//     bound. A request made while the bucket has
//     room is admitted, so the only capacity a correct limiter loses is
//     capacity nobody asked for: a starved or descheduled test process
//     widens the gaps and the allowance with them, never the shortfall.
//     There is no other tolerance.
func checkBucket(calls []call, share float64, charges, relevant func(call) bool) bucketReport {
	const eps = 1e-3 // µs: float noise of the script's double arithmetic
	rep := bucketReport{justified: map[int]bool{}, maxWait: map[int]float64{}}
	var (
		q       float64        // Q of the charges so far
		minUp   = math.Inf(1)  // min over charges i of Q(<i) - before_i
		maxTATa = math.Inf(-1) // max over charges g of after_g - Q(<g): TAT ≤ q + maxTATa
		first   = -1           // index of the first charge
		last    = -1           // index of the last charge
		held    = math.Inf(-1) // Redis time before which the last relevant request kept the bucket from overflowing
		lastQ   float64        // c·T of the last charge
	)
	for i, c := range calls {
		T := 1e6 / (c.rate * share)
		B := c.burst * share
		switch {
		case c.allowed && charges(c):
			// TAT can only have fallen behind now (capacity lost) since
			// the last relevant request, and not before that request's
			// own admission ran out: the most this admission's jump can be.
			if first >= 0 {
				rep.idleUS += max(0, float64(c.after)-held)
			}
			minUp = min(minUp, q-float64(c.before))
			maxTATa = max(maxTATa, float64(c.after)-q)
			q += float64(c.cost) * T
			rep.segments += float64(c.cost)
			if q-float64(c.after)-B*T > minUp+eps {
				rep.overLimit = append(rep.overLimit, fmt.Sprintf("admission %d (cost %d at Redis µs %d): %.3f segments past burst + rate × window",
					i, c.cost, c.before, (q-float64(c.after)-B*T-minUp)/T))
			}
			if first < 0 {
				first = i
			}
			last, lastQ = i, float64(c.cost)*T
		case !c.allowed && first >= 0:
			need := (B - min(float64(c.cost), B)) * T
			tatUp := q + maxTATa
			rep.justified[i] = tatUp-float64(c.before) > need-eps
			rep.maxWait[i] = tatUp - need - float64(c.before)
		}
		// What a relevant request tells of TAT, from the decision alone
		// (not from the replay, or the allowance would excuse whatever the
		// replay got wrong): right after an admission TAT ≥ now + c·T; a
		// denial means TAT - now > (burst-c)·T. TAT never goes back.
		if relevant(c) {
			if c.allowed {
				held = max(held, float64(c.before)+float64(c.cost)*T)
			} else {
				held = max(held, float64(c.before)+(B-min(float64(c.cost), B))*T)
			}
		}
	}
	if first < 0 {
		return rep
	}
	rep.spanUS = float64(calls[last].before - calls[first].after)
	if want := rep.spanUS + lastQ - rep.idleUS; q < want-eps {
		rep.lowBudget = fmt.Sprintf("charged %.0f segments = %.0f µs of budget over a Redis span of %.0f µs with %.0f µs idle: want at least %.0f µs",
			rep.segments, q, rep.spanUS, rep.idleUS, want)
	}
	return rep
}

// checkKey runs every check on the recorded calls of key: the key's bucket
// and, when it had marketing traffic, the marketing sub-limit. It returns
// the admitted segments of all traffic and of marketing, and the Redis
// span of the run in seconds.
//
// rateLo and rateHi bound the effective rate every reply must report: the
// checks replay the rate the script used, so the test must say which rate
// that was supposed to be.
func checkKey(t *testing.T, rec *recorder, key string, otpShare, rateLo, rateHi float64) keyReport {
	t.Helper()
	calls := rec.of(t, key)
	for i, c := range calls {
		if c.rate < rateLo || c.rate > rateHi {
			t.Fatalf("%s: call %d used the rate %v, want it in [%v, %v]", key, i, c.rate, rateLo, rateHi)
		}
	}
	all := func(call) bool { return true }
	mkt := func(c call) bool { return c.marketing }
	// A marketing denial may come from the sub-limit while the key has
	// room: only the other requests tell the key's bucket it was asked.
	notMktDenial := func(c call) bool { return c.allowed || !c.marketing }
	keyRep := checkBucket(calls, 1, all, notMktDenial)
	var subRep bucketReport
	hasMkt, hasOther := false, false
	for _, c := range calls {
		hasMkt = hasMkt || c.marketing
		hasOther = hasOther || !c.marketing
	}
	reports := []bucketReport{keyRep}
	if hasMkt {
		// The sub-limit's aggregate is checked only when marketing is
		// alone on the key: with other traffic, a marketing request can be
		// refused by the key's bucket while the sub-limit has room.
		subRep = checkBucket(calls, 1-otpShare, mkt, func(c call) bool { return c.marketing && !hasOther })
		if hasOther {
			subRep.lowBudget = ""
		}
		reports = append(reports, subRep)
	}
	for bi, rep := range reports {
		name := []string{"key", "marketing sub-limit"}[bi]
		for j, v := range rep.overLimit {
			if j == 5 {
				t.Errorf("%s %s: ... %d more", key, name, len(rep.overLimit)-5)
				break
			}
			t.Errorf("%s %s: over the limit: %s", key, name, v)
		}
		if rep.lowBudget != "" {
			t.Errorf("%s %s: did not use the limit: %s", key, name, rep.lowBudget)
		}
	}
	denials, unjustified, long := 0, 0, 0
	for i, c := range calls {
		if c.allowed {
			continue
		}
		denials++
		ok, w := keyRep.justified[i], keyRep.maxWait[i]
		if c.marketing {
			ok = ok || subRep.justified[i]
			w = max(w, subRep.maxWait[i])
		}
		if !ok {
			if unjustified++; unjustified <= 5 {
				t.Errorf("%s: denial %d (%+v) while the bucket had room", key, i, c)
			}
		} else if float64(c.wait) > math.Ceil(w)+1 {
			if long++; long <= 5 {
				t.Errorf("%s: denial %d told to wait %d µs, the bucket allows %.0f", key, i, c.wait, w)
			}
		}
	}
	if denials == 0 {
		t.Errorf("%s: no request was denied: the test never saturated the limiter, so it proves nothing about the upper bound's tightness", key)
	}
	kr := keyReport{Segments: keyRep.segments, Marketing: subRep.segments, Span: keyRep.spanUS / 1e6, Idle: keyRep.idleUS / 1e6,
		MarketingSpan: subRep.spanUS / 1e6, MarketingIdle: subRep.idleUS / 1e6}
	t.Logf("%s: %d calls, %d denied; %.0f segments (%.0f marketing) in %.3f s of Redis time (%.1f/s); no one asking for %.3f s of it",
		key, len(calls), denials, kr.Segments, kr.Marketing, kr.Span, kr.Segments/kr.Span, kr.Idle)
	return kr
}

// keyReport sums up checkKey: segments admitted (all traffic, marketing),
// the Redis time from the first admission to the last, and the part of it
// during which no request could use the key's capacity, in seconds; the
// same two for the marketing sub-limit.
type keyReport struct{ Segments, Marketing, Span, Idle, MarketingSpan, MarketingIdle float64 }
