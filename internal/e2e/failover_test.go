package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/smsfleet/smsfleet/internal/config"
	"github.com/smsfleet/smsfleet/internal/e2e/harness"
	"github.com/smsfleet/smsfleet/internal/fleet"
	"github.com/smsfleet/smsfleet/internal/provider"
)

// twoProviders configures sim-a then sim-b, with breakers quick enough to
// watch in a test.
func twoProviders(route ...string) func(*config.Config, *fleet.Roles) {
	return func(c *config.Config, _ *fleet.Roles) {
		c.Providers = []provider.Config{{Name: "sim-a", Kind: provider.KindSimulator}, {Name: "sim-b", Kind: provider.KindSimulator}}
		c.DefaultRoute = config.Route{Providers: route}
		c.Breaker = config.Breaker{Window: 2 * time.Second, MinRequests: 5, FailureRatio: 0.5, OpenTimeout: 500 * time.Millisecond, Probes: 2}
		c.Worker.MaxAttempts = 8
	}
}

// fault sets a simulated provider's faults.
func fault(e *harness.Env, name string, f map[string]any) {
	e.T.Helper()
	body, _ := json.Marshal(f)
	resp, err := http.Post(e.SimServer.URL+"/simulator/"+name+"/faults", "application/json", bytes.NewReader(body))
	if err != nil {
		e.T.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		e.T.Fatalf("faults of %s: HTTP %d", name, resp.StatusCode)
	}
}

func sendMany(e *harness.Env, to []string, n map[string]any) []string {
	e.T.Helper()
	codes := make([]string, len(to))
	for i, ph := range to {
		m := map[string]any{"send_date": "now", "content": "x", "devices": []string{ph}}
		for k, v := range n {
			m[k] = v
		}
		codes[i] = e.Send(m)
	}
	return codes
}

func waitAll(e *harness.Env, codes []string, status string, timeout time.Duration) {
	e.T.Helper()
	for _, c := range codes {
		e.WaitCounts(c, map[string]int64{status: 1}, timeout)
	}
}

func TestPrimaryDownFailsOverAndComesBack(t *testing.T) {
	e := harness.New(t, twoProviders("sim-a", "sim-b"))
	to := harness.Phones(4000, 60)
	e.Register(harness.ShopApp, harness.ShopToken, to...)
	fault(e, "sim-a", map[string]any{"down": true})
	codes := sendMany(e, to[:40], nil)
	waitAll(e, codes, "sent", 10*time.Second)
	if a, b := e.Sim.CountBy("sim-a"), e.Sim.CountBy("sim-b"); a != 0 || b != 40 {
		t.Fatalf("while sim-a was down: sim-a %d, sim-b %d; want 0 and 40", a, b)
	}
	if !e.Fleet.Router().Member("sim-a").Open() {
		t.Fatal("sim-a's breaker did not open")
	}
	// The first SMS met sim-a's 503 and went on to sim-b in the same attempt.
	v := e.Message(codes[0])
	if r := v.Recipients[0]; r.Attempts != 1 || r.Provider != "sim-b" || len(r.History) != 2 || r.History[0].Provider != "sim-a" || r.History[0].Outcome != "transient" {
		t.Fatalf("first SMS: %+v", r)
	}
	fault(e, "sim-a", map[string]any{"down": false})
	// Past the open timeout the breaker is half-open: probes go to sim-a.
	harness.Eventually(t, 5*time.Second, func() bool { return !e.Fleet.Router().Member("sim-a").Open() },
		func() string { return "sim-a's breaker stayed open past its open timeout" })
	// A half-open breaker admits only its probes at once (others fail over
	// meanwhile), so the probes go one by one; then the breaker is closed.
	for _, ph := range to[40:42] {
		waitAll(e, sendMany(e, []string{ph}, nil), "sent", 5*time.Second)
	}
	codes = sendMany(e, to[42:], nil)
	waitAll(e, codes, "sent", 10*time.Second)
	if a := e.Sim.CountBy("sim-a"); a != 20 {
		t.Fatalf("after recovery sim-a took %d of 20", a)
	}
	if e.Fleet.Router().Member("sim-a").State() != "closed" {
		t.Fatalf("sim-a's breaker is %s after recovery", e.Fleet.Router().Member("sim-a").State())
	}
}

func TestTransientErrorRateIsRetriedUntilSent(t *testing.T) {
	e := harness.New(t, twoProviders("sim-a"))
	to := harness.Phones(4100, 100)
	e.Register(harness.ShopApp, harness.ShopToken, to...)
	fault(e, "sim-a", map[string]any{"error_rate": 0.3})
	codes := sendMany(e, to, nil)
	waitAll(e, codes, "sent", 30*time.Second)
	attempts := 0
	for _, c := range codes {
		attempts += e.Message(c).Recipients[0].Attempts
	}
	if e.Sim.CountBy("sim-a") != 100 || attempts <= 100 {
		t.Fatalf("%d sent with %d attempts; want 100 sent and retries counted", e.Sim.CountBy("sim-a"), attempts)
	}
}

func TestThrottlingWaitsWithoutTrippingTheBreaker(t *testing.T) {
	e := harness.New(t, twoProviders("sim-a"))
	to := harness.Phones(4200, 10)
	e.Register(harness.ShopApp, harness.ShopToken, to...)
	fault(e, "sim-a", map[string]any{"throttle_rate": 1})
	codes := sendMany(e, to, nil)
	time.Sleep(time.Second)
	if st := e.Fleet.Router().Member("sim-a").State(); st != "closed" {
		t.Fatalf("throttling tripped the breaker: %s", st)
	}
	for _, c := range codes {
		// At most the attempt in flight right now is counted.
		if r := e.Message(c).Recipients[0]; r.Attempts > 1 || r.Status == "failed" {
			t.Fatalf("a throttled SMS used attempts or failed: %+v", r)
		}
	}
	fault(e, "sim-a", map[string]any{"throttle_rate": 0})
	waitAll(e, codes, "sent", 10*time.Second)
	// Several throttled calls, one attempt counted: the one that got through.
	r := e.Message(codes[0]).Recipients[0]
	throttled := 0
	for _, h := range r.History {
		if h.Outcome == "throttled" {
			throttled++
		}
	}
	if r.Attempts != 1 || throttled < 2 || r.History[len(r.History)-1].Outcome != "sent" {
		t.Fatalf("after throttling: %d attempts counted, %d throttled calls: %+v", r.Attempts, throttled, r)
	}
}

func TestPermanentRejectionIsNotRetriedNorFailedOver(t *testing.T) {
	e := harness.New(t, twoProviders("sim-a", "sim-b"))
	bad := "+4915112340001"
	e.Register(harness.ShopApp, harness.ShopToken, bad)
	code := e.Send(map[string]any{"send_date": "now", "content": "x", "devices": []string{bad}})
	v := e.WaitCounts(code, map[string]int64{"failed": 1}, 5*time.Second)
	if r := v.Recipients[0]; r.Attempts != 1 || len(r.History) != 1 || r.History[0].Outcome != "permanent" || !strings.Contains(r.Error, "21211") {
		t.Fatalf("rejected SMS: %+v", r)
	}
}

func TestAllProvidersDownThenBackLosesNothing(t *testing.T) {
	e := harness.New(t, twoProviders("sim-a", "sim-b"))
	to := harness.Phones(4300, 20)
	e.Register(harness.ShopApp, harness.ShopToken, to...)
	fault(e, "sim-a", map[string]any{"down": true})
	fault(e, "sim-b", map[string]any{"down": true})
	codes := sendMany(e, to, nil)
	time.Sleep(2500 * time.Millisecond)
	for _, c := range codes {
		if v := e.Message(c); v.Message.Counts["failed"] != 0 || v.Message.Counts["sent"] != 0 {
			t.Fatalf("while every provider was down: %v", harness.NonZero(v.Message.Counts))
		}
	}
	fault(e, "sim-a", map[string]any{"down": false})
	fault(e, "sim-b", map[string]any{"down": false})
	waitAll(e, codes, "sent", 20*time.Second)
	if n := e.Sim.CountBy("sim-a") + e.Sim.CountBy("sim-b"); n != 20 {
		t.Fatalf("%d SMS reached the providers, want 20 (none lost, none twice)", n)
	}
}

func TestRedeliveryAfterACrashReusesTheIdempotencyKey(t *testing.T) {
	e := harness.New(t, func(c *config.Config, r *fleet.Roles) { twoProviders("sim-a")(c, r); r.Worker = false })
	to := harness.Phones(4400, 1)[0]
	e.Register(harness.ShopApp, harness.ShopToken, to)
	code := e.Send(map[string]any{"send_date": "now", "content": "once", "devices": []string{to}})
	id := harness.SMSID(t, e.Fleet.Store(), code, to)
	// A worker marked it sending, the provider accepted it, and the worker
	// died before it heard the answer.
	harness.Claim(t, e.Fleet.Store(), id)
	first, err := provider.NewSimulator("sim-a", e.SimServer.URL+"/simulator", nil).Send(context.Background(), provider.Request{ID: id, To: to, From: "smsfleet", Text: "once"})
	if err != nil {
		t.Fatal(err)
	}
	// asynq redelivers the task to another worker.
	harness.StartWorker(t, e)
	v := e.WaitCounts(code, map[string]int64{"sent": 1}, 5*time.Second)
	if r := v.Recipients[0]; r.ProviderRef != first.Ref || r.Attempts != 2 {
		t.Fatalf("redelivered: %+v, want the first reference %s on attempt 2", r, first.Ref)
	}
	if n := e.Sim.CountBy("sim-a"); n != 1 {
		t.Fatalf("the phone got %d SMS, want 1", n)
	}
}
