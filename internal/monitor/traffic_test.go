package monitor_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/smsfleet/smsfleet/internal/config"
	"github.com/smsfleet/smsfleet/internal/monitor"
	"github.com/smsfleet/smsfleet/internal/traffic"
)

// TestTrafficPage (issue 18): the monitor's traffic page shows on-call the
// live traffic state an operator set (a drained provider, an operator
// weight, a paused lane and application), each provider's delivery
// quality and weight factor, the pods' applied version and the audit
// trail (who, what); it is behind the monitor's login.
func TestTrafficPage(t *testing.T) {
	srv, rdb, m := newMonitor(t, basic("s3cret", true))
	ctx := context.Background()
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	st := traffic.NewStore(rdb, 100, func() time.Time { return now })
	q := traffic.NewQuality(rdb, config.Default().Quality)
	weight := 7
	for _, c := range []traffic.Change{
		{Who: "alice", What: "drain sim-a", Set: map[string]string{}},
		{Who: "bob", What: "weight sim-b", Set: map[string]string{}},
		{Who: "carol", What: "pause marketing, pause SHOP1-00001", Set: map[string]string{}},
	} {
		switch c.What {
		case "drain sim-a":
			traffic.DrainProvider(&c, "sim-a", true)
		case "weight sim-b":
			traffic.WeightProvider(&c, "sim-b", &weight)
		default:
			traffic.PauseLane(&c, "marketing", true)
			traffic.PauseApp(&c, "SHOP1-00001", true)
		}
		if _, err := st.Apply(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Report(ctx, traffic.PodReport{Pod: "worker-1", Version: 3}); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /monitoring/traffic", m.TrafficHandler(monitor.TrafficOptions{Store: st, Quality: q, Providers: []string{"sim-a", "sim-b", "sim-c"},
		Weights: map[string]int{"sim-a": 2, "sim-b": 1}, Now: func() time.Time { return now }}))
	page := httptest.NewServer(mux)
	t.Cleanup(page.Close)

	resp, body := do(t, http.MethodGet, page.URL+"/monitoring/traffic", creds("admin", "s3cret"))
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("traffic page: %d %s", resp.StatusCode, body)
	}
	for _, want := range []string{
		"State version 3",
		`<tr id="provider-sim-a">`, `<span class="drained">drained</span>`, "2 <small>(configured)</small>",
		`<tr id="provider-sim-b">`, "7 <small>(operator)</small>", "taking traffic",
		`<tr id="provider-sim-c">`, "none: the route's order",
		"100.0 %", // delivery ratio and weight factor with nothing sent
		`<span class="drained">marketing</span>`, `<span class="drained">SHOP1-00001</span>`,
		"<td>worker-1</td><td>3</td>",
		"<td>alice</td><td>drain sim-a</td>", "<td>bob</td><td>weight sim-b</td>", "p:sim-b:w=7",
		"2026-12-01 09:00:00 UTC",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the traffic page does not show %q", want)
		}
	}
	// Newest change first.
	if strings.Index(body, "carol") > strings.Index(body, "alice") {
		t.Error("the audit trail is not newest first")
	}
	for _, set := range []func(*http.Request){nil, creds("admin", "guess")} {
		if resp, _ := do(t, http.MethodGet, page.URL+"/monitoring/traffic", set); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("traffic page without the monitor's login: %d, want 401", resp.StatusCode)
		}
	}
	_ = srv
}
