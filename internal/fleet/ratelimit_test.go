package fleet_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/smsfleet/smsfleet/internal/config"
	"github.com/smsfleet/smsfleet/internal/fleet"
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

// startPod starts a worker-only fleet with its own Redis client, as a
// separate pod would run.
func startPod(t *testing.T, e *env) {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: e.redis.Addr, PoolSize: 64})
	t.Cleanup(func() { _ = rdb.Close() })
	f, err := fleet.New(context.Background(), fleet.Options{
		Config: e.cfg, Roles: fleet.Roles{Worker: true}, Redis: rdb, Now: e.clock.Now, Providers: e.providers(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		f.Shutdown(ctx)
	})
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
func (e *env) arrivals(prefix string) []time.Time {
	var out []time.Time
	for _, m := range e.sim.Messages("", 100000) {
		if strings.HasPrefix(m.To, prefix) {
			out = append(out, m.ReceivedAt)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Before(out[j]) })
	return out
}

func TestOperatorRateHoldsAcrossThreePodsWithoutHeadOfLineBlocking(t *testing.T) {
	if testing.Short() {
		t.Skip("1,200 sends paced at 100/s")
	}
	e := newEnv(t, limited("DE:T-Mobile=100/10"))
	de, fr := phones(5000, 600), frPhones(5000, 600)
	ctx := context.Background()
	if err := e.fleet.Store().RegisterDevices(ctx, shopApp, append(append([]string{}, de...), fr...)); err != nil {
		t.Fatal(err)
	}
	// The limited operator's 600 SMS are queued first, ahead of the others.
	deCode := e.send(map[string]any{"send_date": "now", "content": "x", "devices": de})
	frCode := e.send(map[string]any{"send_date": "now", "content": "x", "devices": fr})
	for range 3 {
		startPod(t, e)
	}
	e.waitCounts(frCode, map[string]int64{"sent": 600}, 30*time.Second)
	e.waitCounts(deCode, map[string]int64{"sent": 600}, 60*time.Second)

	deAt, frAt := e.arrivals("+4915112"), e.arrivals("+336")
	deSpan := deAt[len(deAt)-1].Sub(deAt[0])
	frSpan := frAt[len(frAt)-1].Sub(frAt[0])
	t.Logf("DE:T-Mobile: 600 SMS in %s (%.1f/s); FR:SFR: 600 in %s", deSpan, 599/deSpan.Seconds(), frSpan)
	if frSpan > deSpan/3 {
		t.Errorf("the unlimited operator took %s, not a fraction of the limited one's %s: head-of-line blocking", frSpan, deSpan)
	}
	// Over any 2-second window after the burst, 100/s within 5 %.
	start, end := deAt[0].Add(500*time.Millisecond), deAt[len(deAt)-1]
	for w := start; !w.Add(2 * time.Second).After(end); w = w.Add(100 * time.Millisecond) {
		n := 0
		for _, at := range deAt {
			if !at.Before(w) && at.Before(w.Add(2*time.Second)) {
				n++
			}
		}
		if rate := float64(n) / 2; rate < 95 || rate > 105 {
			t.Errorf("window at +%s: %.1f/s, want 100/s within 5 %%", w.Sub(deAt[0]).Round(time.Millisecond), rate)
		}
	}
	v := e.message(deCode)
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
	e := newEnv(t, limited("DE:T-Mobile=40/4"))
	de := phones(5700, 40)
	if err := e.fleet.Store().RegisterDevices(context.Background(), shopApp, de); err != nil {
		t.Fatal(err)
	}
	code := e.send(map[string]any{"send_date": "now", "content": strings.Repeat("a", 300), "devices": de}) // 2 segments each
	startPod(t, e)
	e.waitCounts(code, map[string]int64{"sent": 40}, 20*time.Second)
	at := e.arrivals("+4915112")
	span := at[len(at)-1].Sub(at[0])
	// 80 segments at 40/s with a burst of 4: about 1.9 s, not the 0.9 s that
	// charging one per SMS would give.
	if span < 1500*time.Millisecond {
		t.Fatalf("40 two-segment SMS went out in %s: charged one segment each?", span)
	}
}
