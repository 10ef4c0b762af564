package e2e_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/smsfleet/smsfleet/internal/config"
	"github.com/smsfleet/smsfleet/internal/e2e/harness"
	"github.com/smsfleet/smsfleet/internal/fleet"
	"github.com/smsfleet/smsfleet/internal/outcomes"
	"github.com/smsfleet/smsfleet/internal/testenv"
	"github.com/smsfleet/smsfleet/receipts"
)

// TestCanceledSMSHaveOneOutcomeEventAndCallback cancels a scheduled
// message twice (the second is refused: nothing is pending): each of its
// SMS reaches the outcome topic once as canceled, with its headers, and
// the status_callback receiver once.
func TestCanceledSMSHaveOneOutcomeEventAndCallback(t *testing.T) {
	k := testenv.NewKafka(t, 3, receipts.Topic, receipts.TopicDLQ, outcomes.Topic)
	rcv := newCallbackReceiver(t, 0)
	e := harness.New(t, withReceiptsOn(k), func(c *config.Config, _ *fleet.Roles) {
		c.Callback = config.Callback{Secrets: map[string]string{harness.ShopApp: shopCallbackSecret}, MaxAttempts: 3, Timeout: 2 * time.Second, AllowPrivate: true}
		allowHTTPCallbacks(c, harness.ShopApp)
	})
	to := harness.Phones(500, 4)
	e.Register(harness.ShopApp, harness.ShopToken, to...)
	at := time.Now().UTC().Add(2 * time.Hour).Format("2006-01-02 15:04")
	code := e.Send(map[string]any{"send_date": at, "content": "later", "devices": to, "status_callback": rcv.srv.URL + "/sms-status"})
	cancel := map[string]any{"application": harness.ShopApp, "auth": harness.ShopToken, "message": code}
	e.MustOK("deleteMessage", cancel)
	if r := e.Call("deleteMessage", cancel, ""); r.StatusCode != 210 {
		t.Fatalf("second cancel: %d %q, want 210 (nothing pending)", r.StatusCode, r.StatusMessage)
	}
	e.WaitCounts(code, map[string]int64{"canceled": int64(len(to))}, 5*time.Second)

	events := readOutcomes(t, k, len(to), 20*time.Second)
	if len(events) != len(to) {
		t.Fatalf("%d outcome events, want %d (one per canceled SMS): %+v", len(events), len(to), events)
	}
	phones := map[string]bool{}
	for _, ev := range events {
		if ev.Status != "canceled" || ev.MessageCode != code || ev.Reason != "" || ev.EventID != ev.SMSID+":canceled" {
			t.Errorf("event %+v, want canceled of %s", ev, code)
		}
		phones[ev.Phone] = true
	}
	if len(phones) != len(to) {
		t.Errorf("events for %d phones, want %d", len(phones), len(to))
	}
	harness.Eventually(t, 20*time.Second, func() bool {
		_, acc := rcv.snapshot()
		return len(acc) == len(to)
	}, func() string {
		_, acc := rcv.snapshot()
		return fmt.Sprintf("callbacks accepted for %d of %d SMS", len(acc), len(to))
	})
	_, acc := rcv.snapshot()
	for id, evs := range acc {
		if len(evs) != 1 || evs[0].Status != "canceled" {
			t.Errorf("callback %s: %+v, want one canceled", id, evs)
		}
	}
}
