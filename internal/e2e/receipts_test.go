package e2e_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/smsfleet/smsfleet/inbound"
	"github.com/smsfleet/smsfleet/internal/config"
	"github.com/smsfleet/smsfleet/internal/e2e/harness"
	"github.com/smsfleet/smsfleet/internal/fleet"
	"github.com/smsfleet/smsfleet/internal/outcomes"
	"github.com/smsfleet/smsfleet/internal/simulator"
	"github.com/smsfleet/smsfleet/internal/testenv"
	"github.com/smsfleet/smsfleet/receipts"
)

// withReceipts adds the receipts role on a kfake broker, and makes the
// simulator post receipts to the fleet's webhook.
func withReceipts(t *testing.T) func(*config.Config, *fleet.Roles) {
	return withReceiptsOn(testenv.NewKafka(t, 3, receipts.Topic, receipts.TopicDLQ, outcomes.Topic, inbound.Topic, inbound.TopicDLQ))
}

// withReceiptsOn is withReceipts on a broker the test reads too.
func withReceiptsOn(k *testenv.Kafka) func(*config.Config, *fleet.Roles) {
	return func(c *config.Config, r *fleet.Roles) {
		r.Receipts = true
		c.Kafka.Brokers = []string{k.Addr}
		c.Receipts = config.Receipts{Group: "smsfleet-receipts", ParkTTL: time.Hour}
	}
}

func TestDeliveryReceiptsReachTheirStates(t *testing.T) {
	e := harness.New(t, withReceipts(t))
	e.Sim.SendReceipts(20*time.Millisecond, e.Config.SimulatorSecret)
	delivered, undelivered, silent := "+4915112340005", "+4915112340002", "+4915112340003"
	e.Register(harness.ShopApp, harness.ShopToken, delivered, undelivered, silent)
	code := e.Send(map[string]any{"send_date": "now", "content": "x", "devices": []string{delivered, undelivered, silent}})
	v := e.WaitCounts(code, map[string]int64{"delivered": 1, "undelivered": 1, "sent": 1}, 20*time.Second)
	for _, r := range v.Recipients {
		if r.To == silent && r.Status != "sent" {
			t.Fatalf("the no-receipt number: %+v", r)
		}
	}
	// getResults counts deliveries.
	raw := e.MustOK("getMsgStats", map[string]any{"application": harness.ShopApp, "auth": harness.ShopToken, "message": code})
	var req struct {
		RequestID string `json:"request_id"`
	}
	if err := json.Unmarshal(raw, &req); err != nil {
		t.Fatal(err)
	}
	raw = e.MustOK("getResults", map[string]any{"auth": harness.ShopToken, "request_id": req.RequestID})
	if !strings.Contains(string(raw), `"action":"delivery","count":"1"`) {
		t.Fatalf("getResults: %s", raw)
	}
}

func TestNoReceiptWithinTheDeliveryWaitIsUnknownUntilALateOne(t *testing.T) {
	e := harness.New(t, withReceipts(t))
	e.Sim.SendReceipts(20*time.Millisecond, e.Config.SimulatorSecret)
	silent := "+4915112340003" // the simulator never sends its receipt
	e.Register(harness.ShopApp, harness.ShopToken, silent)
	code := e.Send(map[string]any{"send_date": "now", "content": "x", "devices": []string{silent}, "delivery_wait": 1})
	v := e.WaitCounts(code, map[string]int64{"unknown": 1}, 5*time.Second)
	ref := v.Recipients[0].ProviderRef
	// The operator's receipt comes late after all: it still upgrades.
	cb := e.Config.PublicURL + "/webhooks/dlr/simulator"
	fields := url.Values{"MessageSid": {ref}, "MessageStatus": {"delivered"}}
	req, _ := http.NewRequest(http.MethodPost, cb, strings.NewReader(fields.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if err := simulator.SignWebhook(req.Header, e.Config.SimulatorSecret, "late-receipt", e.Clock.Now(), []byte(fields.Encode())); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("late receipt: HTTP %d", resp.StatusCode)
	}
	e.WaitCounts(code, map[string]int64{"delivered": 1}, 5*time.Second)
}

// TestInboundStopSuppressesTheNextSMS: a STOP reply through the fleet's
// webhook opts the phone out, and the next transactional SMS to it is
// suppressed; START lets the one after through.
func TestInboundStopSuppressesTheNextSMS(t *testing.T) {
	e := harness.New(t, withReceipts(t))
	phone := "+4915112340011"
	e.Register(harness.ShopApp, harness.ShopToken, phone)
	applied := waitReplyApplied(t, e) // replies land in Kafka first (inbound_test.go)
	reply := func(text string) {
		t.Helper()
		status, err := e.Sim.PostReply(context.Background(), e.API.URL+"/webhooks/inbound/simulator", phone, "SMSFLEET", text)
		if err != nil {
			t.Fatal(err)
		}
		if status != http.StatusNoContent {
			t.Fatalf("inbound %s: HTTP %d", text, status)
		}
		applied()
	}
	reply("STOP")
	code := e.Send(map[string]any{"send_date": "now", "content": "x", "devices": []string{phone}})
	v := e.WaitCounts(code, map[string]int64{"suppressed": 1}, 10*time.Second)
	if v.Recipients[0].Reason != "opted_out" {
		t.Fatalf("after STOP: %+v", v.Recipients[0])
	}
	reply("start")
	code = e.Send(map[string]any{"send_date": "now", "content": "y", "devices": []string{phone}})
	e.WaitCounts(code, map[string]int64{"sent": 1}, 10*time.Second)
}

// TestReadinessFollowsTheRoleDependencies: the receipts role is ready
// while Redis and Kafka answer, and not once Kafka is gone (its webhooks
// would only answer 503).
func TestReadinessFollowsTheRoleDependencies(t *testing.T) {
	k, err := testenv.StartKafka(1, receipts.Topic, receipts.TopicDLQ, outcomes.Topic, inbound.Topic, inbound.TopicDLQ)
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	e := harness.New(t, withReceiptsOn(k))
	ready := func() (int, string) {
		resp, err := http.Get(e.API.URL + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := ready(); code != http.StatusOK {
		t.Fatalf("with Redis and Kafka up: HTTP %d %s", code, body)
	}
	k.Close()
	if code, body := ready(); code != http.StatusServiceUnavailable || !strings.Contains(body, "kafka") {
		t.Fatalf("with Kafka down: HTTP %d %s, want 503 naming kafka", code, body)
	}
}
