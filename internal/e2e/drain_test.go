package e2e_test

import (
	"testing"
	"time"

	"github.com/smsfleet/smsfleet/internal/config"
	"github.com/smsfleet/smsfleet/internal/e2e/harness"
	"github.com/smsfleet/smsfleet/internal/fleet"
)

// TestDrainMovesTrafficOnThreeWorkers (issue 18): three worker processes
// (separate fleets, each on its own Redis client) send through sim-a then
// sim-b. Draining sim-a through the operator API moves every new SMS to
// sim-b once every worker reports the new version, and undraining brings
// them back. Counted at the simulator; the time from the POST to the last
// worker applying it is measured and logged (docs/operations.md), never
// asserted.
func TestDrainMovesTrafficOnThreeWorkers(t *testing.T) {
	e := harness.New(t, twoProviders("sim-a", "sim-b"), withAdmin(time.Second), func(_ *config.Config, r *fleet.Roles) {
		r.Worker = false // the three workers are the pods below
	})
	const workers = 3
	for range workers {
		harness.StartPod(t, e)
	}
	harness.Eventually(t, 10*time.Second, func() bool { return allPodsApplied(getProviders(t, e), workers, 0, time.Time{}) },
		func() string { return "the workers never reported" })
	to := harness.Phones(5000, 150)
	e.Register(harness.ShopApp, harness.ShopToken, to...)
	send := func(phones []string) {
		t.Helper()
		code := e.Send(map[string]any{"send_date": "now", "content": "x", "devices": phones})
		e.WaitCounts(code, map[string]int64{"sent": int64(len(phones))}, 30*time.Second)
	}
	// Before: sim-a takes everything.
	send(to[:30])
	if a, b := e.Sim.CountBy("sim-a"), e.Sim.CountBy("sim-b"); a != 30 || b != 0 {
		t.Fatalf("before the drain: sim-a %d, sim-b %d; want 30 and 0", a, b)
	}
	drain := func(drained bool) time.Duration {
		t.Helper()
		start := time.Now()
		body := `{"drained":false}`
		if drained {
			body = `{"drained":true}`
		}
		v := operator(t, e, "POST", "/api/v1/admin/providers/sim-a", body)
		version := int64(v["version"].(float64))
		harness.Eventually(t, 30*time.Second, func() bool { return allPodsApplied(getProviders(t, e), workers, version, time.Time{}) },
			func() string { return "not every worker applied the change" })
		return time.Since(start)
	}
	took := drain(true)
	t.Logf("drain of sim-a applied by all %d workers %v after the POST (poll 1s)", workers, took)
	send(to[30:90])
	if a, b := e.Sim.CountBy("sim-a"), e.Sim.CountBy("sim-b"); a != 30 || b != 60 {
		t.Fatalf("while sim-a is drained: sim-a %d, sim-b %d; want 30 and 60", a, b)
	}
	v := getProviders(t, e)
	if !v.Providers[0].Drained || v.Providers[0].Name != "sim-a" {
		t.Fatalf("GET providers does not show sim-a drained: %+v", v.Providers)
	}
	took = drain(false)
	t.Logf("undrain of sim-a applied by all %d workers %v after the POST (poll 1s)", workers, took)
	send(to[90:150])
	if a, b := e.Sim.CountBy("sim-a"), e.Sim.CountBy("sim-b"); a != 90 || b != 60 {
		t.Fatalf("after the undrain: sim-a %d, sim-b %d; want 90 and 60", a, b)
	}
}
