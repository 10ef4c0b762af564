package e2e_test

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/smsfleet/smsfleet/internal/config"
	"github.com/smsfleet/smsfleet/internal/e2e/harness"
	"github.com/smsfleet/smsfleet/internal/fleet"
)

// TestQualityRoutingFollowsDelivery (issue 18): sim-a and sim-b split a
// weighted route evenly. sim-a starts accepting SMS without delivering
// them (undelivered_rate 1): once their receipt deadline has passed on the
// fleet's injected clock, its share of first choices falls to the floor
// and SMS keep being delivered by sim-b. sim-a recovers: the few SMS the
// floor still gives it are delivered, and once they are judged its share
// comes back. Shares are counted at the simulator over 100 SMS each; the
// bounds are many standard deviations wide.
func TestQualityRoutingFollowsDelivery(t *testing.T) {
	q := config.Quality{Enabled: true, Window: 5 * time.Minute, Deadline: time.Minute, Threshold: 0.15, Floor: 0.1, MinSMS: 5}
	bucket := q.Window / 10
	e := harness.New(t, twoProviders("sim-a", "sim-b"), withReceipts(t), withAdmin(20*time.Millisecond), func(c *config.Config, _ *fleet.Roles) {
		c.DefaultRoute.Weights = map[string]int{"sim-a": 50, "sim-b": 50}
		c.Quality = q
	})
	e.Sim.SendReceipts(5*time.Millisecond, e.Config.SimulatorSecret)
	from := 5000
	// round sends n SMS in one message and waits for every receipt; it
	// returns how many each provider took.
	round := func(n int) (a, b int) {
		t.Helper()
		phones := harness.Phones(from, n)
		from += n
		e.Register(harness.ShopApp, harness.ShopToken, phones...)
		a0, b0 := e.Sim.CountBy("sim-a"), e.Sim.CountBy("sim-b")
		code := e.Send(map[string]any{"send_date": "now", "content": "x", "devices": phones})
		harness.Eventually(t, 60*time.Second, func() bool {
			c := e.Message(code).Message.Counts
			return c["delivered"]+c["undelivered"] == int64(n)
		}, func() string { return "receipts missing: " + code })
		return e.Sim.CountBy("sim-a") - a0, e.Sim.CountBy("sim-b") - b0
	}
	// judge moves the clock past the deadline of what was sent and waits
	// until the worker has evaluated the quality at that time.
	judge := func(d time.Duration) providersView {
		t.Helper()
		e.Clock.Advance(d)
		at := e.Clock.Now()
		var v providersView
		harness.Eventually(t, 10*time.Second, func() bool { v = getProviders(t, e); return allPodsApplied(v, 1, 0, at) },
			func() string { return "quality not evaluated" })
		return v
	}
	factor := func(v providersView, name string) float64 {
		for _, p := range v.Providers {
			if p.Name == name {
				return p.Quality.Factor
			}
		}
		t.Fatalf("no provider %s in %+v", name, v)
		return 0
	}

	// 1. sim-a stops delivering.
	fault(e, "sim-a", map[string]any{"undelivered_rate": 1})
	a, b := round(60)
	t.Logf("sim-a faulty, not judged yet: sim-a %d, sim-b %d", a, b)
	v := judge(q.Deadline + 2*bucket)
	if f := factor(v, "sim-a"); f != q.Floor || factor(v, "sim-b") != 1 {
		t.Fatalf("after sim-a's SMS went undelivered: factors sim-a %v sim-b %v; want %v and 1 (%+v)", f, factor(v, "sim-b"), q.Floor, v.Providers)
	}
	// The figures are in the metrics and in the applications' view.
	for _, want := range []string{`smsfleet_provider_quality_weight_factor{provider="sim-a"} 0.1`, `smsfleet_provider_quality_delivery_ratio{provider="sim-a"} 0`,
		`smsfleet_provider_quality_delivery_ratio{provider="sim-b"} 1`, `smsfleet_provider_quality_sms{provider="sim-a"} ` + strconv.Itoa(a)} {
		if m := metricsText(t, e); !strings.Contains(m, want+"\n") {
			t.Errorf("metrics lack %s", want)
		}
	}
	var routes struct {
		Providers []struct {
			Name            string   `json:"name"`
			EffectiveWeight *float64 `json:"effective_weight"`
			Quality         struct {
				Factor float64 `json:"weight_factor"`
			} `json:"quality"`
		} `json:"providers"`
	}
	if st := e.Native("/api/v1/routes", harness.ShopToken, &routes); st != 200 || routes.Providers[0].Name != "sim-a" ||
		routes.Providers[0].Quality.Factor != q.Floor || *routes.Providers[0].EffectiveWeight != 5 {
		t.Fatalf("GET /api/v1/routes: HTTP %d %+v", st, routes)
	}
	// 2. Its share drops; SMS keep being delivered by sim-b.
	a, b = round(100)
	t.Logf("sim-a judged faulty (factor %v): sim-a %d, sim-b %d of 100", q.Floor, a, b)
	if a > 25 || b < 75 {
		t.Fatalf("sim-a judged faulty still took %d of 100 (sim-b %d); expected about 9", a, b)
	}
	// 3. sim-a recovers. The faulty SMS of step 2 are judged while the
	// floor's share of a larger round measures the recovery.
	fault(e, "sim-a", map[string]any{})
	judge(q.Window)
	a, b = round(200)
	t.Logf("sim-a recovered, still judged on step 2: sim-a %d, sim-b %d of 200", a, b)
	v = judge(q.Deadline + 2*bucket)
	if f := factor(v, "sim-a"); f != 1 {
		t.Fatalf("after sim-a delivered again: factor %v (%+v)", f, v.Providers)
	}
	// 4. Its share comes back.
	a, b = round(100)
	t.Logf("sim-a judged recovered: sim-a %d, sim-b %d of 100", a, b)
	if a < 25 {
		t.Fatalf("recovered sim-a took only %d of 100 (sim-b %d)", a, b)
	}
}

// metricsText is the fleet's /metrics page.
func metricsText(t testing.TB, e *harness.Env) string {
	t.Helper()
	resp, err := http.Get(e.API.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
