package e2e_test

import (
	"context"
	"testing"
	"time"

	"github.com/smsfleet/smsfleet/internal/config"
	"github.com/smsfleet/smsfleet/internal/e2e/harness"
	"github.com/smsfleet/smsfleet/internal/fleet"
)

// TestSendOnACluster runs the fleet (API, worker, receipts) on a 3-master
// Redis Cluster: the store in the tagged layout with 16 partitions, asynq
// on the cluster client. An OTP and a fan-out to 40 phones are sent,
// delivered and their receipts applied; an SMS without a receipt ends
// unknown when its delivery wait ends (the partitions' delivery-wait
// sweep); every outcome is relayed (the partitions' streams drain); the
// store's keys are then on every master.
func TestSendOnACluster(t *testing.T) {
	harness.StandaloneOnly(t, "starts its own cluster, as the cluster run's tests do")
	// A rate limit on the phones' operator: every send runs the limiter's
	// script on the cluster too (its keys carry the operator as their tag).
	e := harness.NewOnCluster(t, withReceipts(t), func(c *config.Config, _ *fleet.Roles) {
		c.Rate = config.Default().Rate
		c.Rate.Limits = "DE:T-Mobile=1000/100"
	})
	if l := e.Fleet.Store().Layout(); !l.Tagged || l.Partitions != 16 {
		t.Fatalf("layout %s, want tagged with the cluster's 16 partitions", l)
	}
	e.Sim.SendReceipts(20*time.Millisecond, e.Config.SimulatorSecret)
	phones := harness.Phones(500, 40)
	e.Register(harness.ShopApp, harness.ShopToken, phones...)

	otp := e.Send(map[string]any{"send_date": "now", "content": "Your code is 4711", "devices": phones[:1], "message_type": "otp"})
	bulk := e.Send(map[string]any{"send_date": "now", "content": "Sale", "devices": phones})
	silent := "+4915112340003" // the simulator never sends its receipt
	e.Register(harness.ShopApp, harness.ShopToken, silent)
	waited := e.Send(map[string]any{"send_date": "now", "content": "x", "devices": []string{silent}, "delivery_wait": 1})
	e.WaitCounts(otp, map[string]int64{"delivered": 1}, 20*time.Second)
	e.WaitCounts(waited, map[string]int64{"unknown": 1}, 20*time.Second)
	v := e.WaitCounts(bulk, map[string]int64{"delivered": 40}, 30*time.Second)
	for _, r := range v.Recipients {
		if r.Status != "delivered" || r.ProviderRef == "" {
			t.Fatalf("recipient %+v, want delivered with its reference", r)
		}
	}
	harness.Eventually(t, 20*time.Second, func() bool {
		n, err := e.Fleet.Store().OutcomeBacklog(context.Background())
		return err == nil && n == 0
	}, func() string { return "outcome events still waiting in the partitions' streams" })
	// Nothing refused a command for its slots, nor failed otherwise.
	for _, l := range e.Logs.All() {
		t.Errorf("fleet logged %s: %s %v", l.Level, l.Message, l.ContextMap())
	}
	// The limiter charged every SMS to the operator's key (its usage keys
	// live 60 s): 40 + 1 + 1 SMS of one segment each.
	if v := rateLimits(e); len(v.Limits) != 1 || v.Limits[0].RecentSegments != 42 {
		t.Errorf("rate limits %+v, want 42 segments charged to DE:T-Mobile", v.Limits)
	}
	for addr, n := range e.KeysPerMaster(t) {
		if n == 0 {
			t.Errorf("master %s holds no key", addr)
		}
		t.Logf("master %s: %d keys", addr, n)
	}
}
