package authguard

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/smsfleet/smsfleet/internal/metrics"
)

// clock is an injected clock.
type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }
func from(addr string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/json/1.3/createMessage", nil)
	r.RemoteAddr = addr
	return r
}

// TestBudget: a source may fail Failures times, then gets 429 until its
// budget refills (one failure per Window/Failures); other sources and
// missing credentials are not affected.
func TestBudget(t *testing.T) {
	c := &clock{t: time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)}
	g := New(Options{Surface: "test-budget", Failures: 3, Window: 30 * time.Second, Now: c.now})
	const a, b = "192.0.2.1:1000", "192.0.2.2:1000"
	throttled := func(addr string) (time.Duration, bool) { return g.Throttled(from(addr)) }
	for i := range 3 {
		if _, th := throttled(a); th {
			t.Fatalf("throttled after %d failures", i)
		}
		g.Fail(from(a), Unknown, "")
	}
	wait, th := throttled(a)
	if !th || wait != 10*time.Second {
		t.Fatalf("after 3 failures: throttled %v, retry after %s; want 10s", th, wait)
	}
	if _, th := throttled(b); th {
		t.Fatal("another address is throttled too")
	}
	// Another port of the same address is the same source.
	if _, th := throttled("192.0.2.1:2000"); !th {
		t.Fatal("another port escapes the throttle")
	}
	// Missing credentials guess nothing: not charged.
	for range 10 {
		g.Fail(from(b), Missing, "")
	}
	if _, th := throttled(b); th {
		t.Fatal("missing credentials were charged")
	}
	c.advance(9 * time.Second)
	if wait, th := throttled(a); !th || wait != time.Second {
		t.Fatalf("9 s later: throttled %v, retry after %s; want 1s", th, wait)
	}
	c.advance(time.Second)
	if _, th := throttled(a); th {
		t.Fatal("still throttled after the refill")
	}
	g.Fail(from(a), WrongApp, "SHOP1-00001")
	if _, th := throttled(a); !th {
		t.Fatal("one refilled failure spent, not throttled again")
	}
	c.advance(30 * time.Second)
	if _, th := throttled(a); th {
		t.Fatal("still throttled after a whole window")
	}
	if got := testutil.ToFloat64(metrics.AuthThrottled.WithLabelValues("test-budget")); got != 4 {
		t.Fatalf("smsfleet_auth_throttled_total = %v, want 4", got)
	}
	if got := testutil.ToFloat64(metrics.AuthFailures.WithLabelValues("test-budget", Unknown)); got != 3 {
		t.Fatalf("smsfleet_auth_failures_total{reason=unknown} = %v, want 3", got)
	}
	if got := testutil.ToFloat64(metrics.AuthFailures.WithLabelValues("test-budget", Missing)); got != 10 {
		t.Fatalf("smsfleet_auth_failures_total{reason=missing} = %v, want 10", got)
	}
}

// TestSources: IPv6 addresses of one /64 share a budget; the table is
// bounded (the least recently failing source is forgotten); Failures 0
// throttles nothing.
func TestSources(t *testing.T) {
	c := &clock{t: time.Unix(0, 0)}
	g := New(Options{Surface: "test-sources", Failures: 1, Window: time.Minute, MaxSources: 2, Now: c.now})
	g.Fail(from("[2001:db8:1:2::1]:443"), Unknown, "")
	if _, th := g.Throttled(from("[2001:db8:1:2:ffff::9]:80")); !th {
		t.Fatal("another address of the /64 escapes")
	}
	if _, th := g.Throttled(from("[2001:db8:1:3::1]:80")); th {
		t.Fatal("another /64 is throttled")
	}
	g.Fail(from("198.51.100.1:1"), Unknown, "")
	g.Fail(from("198.51.100.2:1"), Unknown, "")
	if _, th := g.Throttled(from("[2001:db8:1:2::1]:443")); th {
		t.Fatal("a third source did not evict the first from a table of 2")
	}
	if g.sources.Len() != 2 {
		t.Fatalf("%d sources remembered, want 2", g.sources.Len())
	}
	off := New(Options{Surface: "test-sources", Now: c.now})
	for range 100 {
		off.Fail(from("198.51.100.3:1"), Unknown, "")
	}
	if _, th := off.Throttled(from("198.51.100.3:1")); th {
		t.Fatal("throttled with Failures 0")
	}
}

// TestLogRateLimited: a flood of failures logs a burst, then one line a
// second carrying how many were left out; no line holds a credential
// (the guard is never given one).
func TestLogRateLimited(t *testing.T) {
	c := &clock{t: time.Unix(0, 0)}
	core, logs := observer.New(zap.WarnLevel)
	g := New(Options{Surface: "api", Now: c.now, Log: zap.New(core)})
	for range 100 {
		g.Fail(from("203.0.113.7:5555"), Unknown, "SHOP1-00001")
	}
	if n := logs.Len(); n != logBurst {
		t.Fatalf("%d lines for 100 failures at once, want %d", n, logBurst)
	}
	c.advance(logEvery)
	g.Fail(from("203.0.113.7:5555"), TooWeak, "")
	all := logs.All()
	last := all[len(all)-1].ContextMap()
	if len(all) != logBurst+1 || last["suppressed"] != int64(100-logBurst) {
		t.Fatalf("%d lines, last %v; want %d lines, the last with suppressed=%d", len(all), last, logBurst+1, 100-logBurst)
	}
	first := all[0]
	want := map[string]any{"surface": "api", "reason": Unknown, "remote": "203.0.113.7", "path": "/json/1.3/createMessage", "application": "SHOP1-00001"}
	for k, v := range want {
		if first.ContextMap()[k] != v {
			t.Errorf("log field %s = %v, want %v (%v)", k, first.ContextMap()[k], v, first.ContextMap())
		}
	}
	if first.Level != zap.WarnLevel || first.Message != "authentication failed" {
		t.Errorf("log line %s %q", first.Level, first.Message)
	}
}
