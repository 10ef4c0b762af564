// Package ratelimittest records the decisions of ratelimit.Limiter as
// Redis ran them and checks them against GCRA, for tests of the limiter
// and of the services built on it. Like net/http/httptest, it is imported
// by tests only.
//
// The rate tests judge the limiter in its own time, Redis's TIME, not in
// the test process's: on a busy machine the test process (and any pod it
// runs) is descheduled at will, and a window timed with time.Now around
// the run is longer or shorter than the one the limiter saw. So every
// Allow a recorded client sends goes through a hook that runs it as MULTI;
// TIME; EVALSHA; TIME; EXEC. A transaction runs without any other client's
// command in between, so the script's own TIME (its "now") lies in
// [Before, After] of its call, the brackets of two calls never overlap,
// and sorting by Before gives the order in which Redis ran them. The
// brackets are a few microseconds wide however loaded the machine is
// (Redis only needs to run three commands back to back); the checks use
// their worst-case ends, so they never blame the limiter for the width,
// and nothing in them is a wall-clock expectation.
//
// The package does not import ratelimit, whose own tests use it: it reads
// the allow script's keys, arguments and reply as the limiter sends them
// (KEYS: prefix+"t:{"+key+"}", prefix+"a:{"+key+"}", prefix+"m:{"+key+"}"; ARGV[5] burst,
// ARGV[6] cost, ARGV[7] marketing; reply: allowed, wait µs, rate).
package ratelimittest

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"
)

// Call is one Allow as Redis ran it.
type Call struct {
	Key           string  // KEYS[1], the TAT key: prefix+"t:{"+Request.Key+"}"
	Cost          int     // ARGV[6]
	Marketing     bool    // ARGV[7]
	Burst         float64 // ARGV[5], the burst the script used
	Allowed       bool    // reply[1]
	Wait          int64   // reply[2], µs
	Rate          float64 // reply[3], the effective rate the script used
	Before, After int64   // Redis TIME around the script, µs
}

// Recorder collects the Allow calls of every client it hooks. It is safe
// for concurrent use.
type Recorder struct {
	prefix string // the limiter's Options.Prefix
	mu     sync.Mutex
	calls  []Call
	errs   []string
}

// NewRecorder returns a Recorder of limiters whose Options.Prefix is
// prefix; pass ratelimit.DefaultPrefix for limiters that leave it unset.
// Only the allow script's calls on keys with that prefix are recorded.
func NewRecorder(prefix string) *Recorder {
	if prefix == "" {
		panic("ratelimittest: NewRecorder needs the limiter's key prefix (ratelimit.DefaultPrefix by default)")
	}
	return &Recorder{prefix: prefix}
}

// Hook makes rec record the Allow calls of c, from now on. Give c to the
// limiter (ratelimit.NewLimiter) or to whatever builds one on it.
func (rec *Recorder) Hook(c *redis.Client) {
	c.AddHook(timeHook{rec: rec, c: c})
}

// timeHook brackets the allow script of its client with Redis TIME.
type timeHook struct {
	rec *Recorder
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
		c := Call{
			Key: fmt.Sprint(args[3]), Burst: num(args[10]), Cost: int(num(args[11])), Marketing: fmt.Sprint(args[12]) == "1",
			Allowed: num(res[0]) == 1, Wait: int64(num(res[1])), Rate: num(res[2]),
			Before: tb.Val().UnixMicro(), After: ta.Val().UnixMicro(),
		}
		h.rec.mu.Lock()
		h.rec.calls = append(h.rec.calls, c)
		h.rec.mu.Unlock()
		return nil
	}
}

// Match says which recorded calls belong to a limiter key.
type Match int

const (
	// Exact takes the calls on exactly the limiter key (Request.Key): TAT
	// key prefix+"t:{"+key+"}".
	Exact Match = iota
	// Suffix takes the calls whose TAT key ends with key, for tests that
	// know a key's tail (an operator) but not how the service spells the
	// rest.
	Suffix
)

func (m Match) matches(rec *Recorder, tatKey, key string) bool {
	switch m {
	case Exact:
		return tatKey == rec.prefix+"t:{"+key+"}"
	case Suffix:
		return strings.HasSuffix(strings.TrimSuffix(tatKey, "}"), key)
	}
	panic(fmt.Sprintf("ratelimittest: unknown Match %d", m))
}

// Calls returns the recorded calls on limiter key key, picked by match, in
// the order Redis ran them. It fails t with any error met while recording,
// and stops the test if two calls overlap in Redis time (MULTI makes that
// impossible) or none was recorded.
func (rec *Recorder) Calls(t *testing.T, key string, match Match) []Call {
	t.Helper()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, e := range rec.errs {
		t.Error(e)
	}
	var out []Call
	for _, c := range rec.calls {
		if match.matches(rec, c.Key, key) {
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b Call) int { return int(a.Before - b.Before) })
	for i := 1; i < len(out); i++ {
		if out[i].Before < out[i-1].After {
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
func checkBucket(calls []Call, share float64, charges, relevant func(Call) bool) bucketReport {
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
		T := 1e6 / (c.Rate * share)
		B := c.Burst * share
		switch {
		case c.Allowed && charges(c):
			// TAT can only have fallen behind now (capacity lost) since
			// the last relevant request, and not before that request's
			// own admission ran out: the most this admission's jump can be.
			if first >= 0 {
				rep.idleUS += max(0, float64(c.After)-held)
			}
			minUp = min(minUp, q-float64(c.Before))
			maxTATa = max(maxTATa, float64(c.After)-q)
			q += float64(c.Cost) * T
			rep.segments += float64(c.Cost)
			if q-float64(c.After)-B*T > minUp+eps {
				rep.overLimit = append(rep.overLimit, fmt.Sprintf("admission %d (cost %d at Redis µs %d): %.3f segments past burst + rate × window",
					i, c.Cost, c.Before, (q-float64(c.After)-B*T-minUp)/T))
			}
			if first < 0 {
				first = i
			}
			last, lastQ = i, float64(c.Cost)*T
		case !c.Allowed && first >= 0:
			need := (B - min(float64(c.Cost), B)) * T
			tatUp := q + maxTATa
			rep.justified[i] = tatUp-float64(c.Before) > need-eps
			rep.maxWait[i] = tatUp - need - float64(c.Before)
		}
		// What a relevant request tells of TAT, from the decision alone
		// (not from the replay, or the allowance would excuse whatever the
		// replay got wrong): right after an admission TAT ≥ now + c·T; a
		// denial means TAT - now > (burst-c)·T. TAT never goes back.
		if relevant(c) {
			if c.Allowed {
				held = max(held, float64(c.Before)+float64(c.Cost)*T)
			} else {
				held = max(held, float64(c.Before)+(B-min(float64(c.Cost), B))*T)
			}
		}
	}
	if first < 0 {
		return rep
	}
	rep.spanUS = float64(calls[last].Before - calls[first].After)
	if want := rep.spanUS + lastQ - rep.idleUS; q < want-eps {
		rep.lowBudget = fmt.Sprintf("charged %.0f segments = %.0f µs of budget over a Redis span of %.0f µs with %.0f µs idle: want at least %.0f µs",
			rep.segments, q, rep.spanUS, rep.idleUS, want)
	}
	return rep
}

// CheckKey runs every check on the recorded calls of key (picked by match,
// as in [Recorder.Calls]): the key's bucket and, when it had marketing
// traffic, the marketing sub-limit. It fails t on any violation and
// returns the admitted segments of all traffic and of marketing, and the
// Redis span of the run in seconds.
//
// otpShare is the limiter's Options.OTPShare (ratelimit.DefaultOTPShare
// when unset): the marketing sub-limit is 1-otpShare of the key's rate and
// burst. rateLo and rateHi bound the effective rate every reply must
// report: the checks replay the rate the script used, so the test must say
// which rate that was supposed to be.
func CheckKey(t *testing.T, rec *Recorder, key string, match Match, otpShare, rateLo, rateHi float64) KeyReport {
	t.Helper()
	calls := rec.Calls(t, key, match)
	for i, c := range calls {
		if c.Rate < rateLo || c.Rate > rateHi {
			t.Fatalf("%s: call %d used the rate %v, want it in [%v, %v]", key, i, c.Rate, rateLo, rateHi)
		}
	}
	all := func(Call) bool { return true }
	mkt := func(c Call) bool { return c.Marketing }
	// A marketing denial may come from the sub-limit while the key has
	// room: only the other requests tell the key's bucket it was asked.
	notMktDenial := func(c Call) bool { return c.Allowed || !c.Marketing }
	keyRep := checkBucket(calls, 1, all, notMktDenial)
	var subRep bucketReport
	hasMkt, hasOther := false, false
	for _, c := range calls {
		hasMkt = hasMkt || c.Marketing
		hasOther = hasOther || !c.Marketing
	}
	reports := []bucketReport{keyRep}
	if hasMkt {
		// The sub-limit's aggregate is checked only when marketing is
		// alone on the key: with other traffic, a marketing request can be
		// refused by the key's bucket while the sub-limit has room.
		subRep = checkBucket(calls, 1-otpShare, mkt, func(c Call) bool { return c.Marketing && !hasOther })
		if hasOther {
			subRep.lowBudget = ""
		}
		reports = append(reports, subRep)
	}
	for bi, rep := range reports {
		reportBucket(t, key, []string{"key", "marketing sub-limit"}[bi], rep)
	}
	denials := checkDenials(t, key, calls, keyRep, subRep)
	if denials == 0 {
		t.Errorf("%s: no request was denied: the test never saturated the limiter, so it proves nothing about the upper bound's tightness", key)
	}
	kr := KeyReport{Segments: keyRep.segments, Marketing: subRep.segments, Span: keyRep.spanUS / 1e6, Idle: keyRep.idleUS / 1e6,
		MarketingSpan: subRep.spanUS / 1e6, MarketingIdle: subRep.idleUS / 1e6}
	t.Logf("%s: %d calls, %d denied; %.0f segments (%.0f marketing) in %.3f s of Redis time (%.1f/s); no one asking for %.3f s of it",
		key, len(calls), denials, kr.Segments, kr.Marketing, kr.Span, kr.Segments/kr.Span, kr.Idle)
	return kr
}

// reportBucket fails t for each violation one bucket's replay found (the
// first five over-limit windows, then a count).
func reportBucket(t *testing.T, key, name string, rep bucketReport) {
	t.Helper()
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

// checkDenials fails t for each denial that neither bucket justified, or
// whose retry wait was longer than the bucket needed, and returns how many
// calls were denied.
func checkDenials(t *testing.T, key string, calls []Call, keyRep, subRep bucketReport) int {
	t.Helper()
	denials, unjustified, long := 0, 0, 0
	for i, c := range calls {
		if c.Allowed {
			continue
		}
		denials++
		ok, w := keyRep.justified[i], keyRep.maxWait[i]
		if c.Marketing {
			ok = ok || subRep.justified[i]
			w = max(w, subRep.maxWait[i])
		}
		if !ok {
			if unjustified++; unjustified <= 5 {
				t.Errorf("%s: denial %d (%+v) while the bucket had room", key, i, c)
			}
		} else if float64(c.Wait) > math.Ceil(w)+1 {
			if long++; long <= 5 {
				t.Errorf("%s: denial %d told to wait %d µs, the bucket allows %.0f", key, i, c.Wait, w)
			}
		}
	}
	return denials
}

// KeyReport sums up [CheckKey]: segments admitted (all traffic, marketing),
// the Redis time from the first admission to the last, and the part of it
// during which no request could use the key's capacity, in seconds; the
// same two for the marketing sub-limit.
type KeyReport struct{ Segments, Marketing, Span, Idle, MarketingSpan, MarketingIdle float64 }
