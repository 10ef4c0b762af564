package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/smsfleet/smsfleet/internal/config"
	"github.com/smsfleet/smsfleet/internal/e2e/harness"
	"github.com/smsfleet/smsfleet/internal/fleet"
)

// TestConditionsTargetOnlyMatchingDevices (issue 16): a "London only"
// notification reaches the London device and not the Paris one, through
// the whole fleet; before, conditions were skipped and both got it.
func TestConditionsTargetOnlyMatchingDevices(t *testing.T) {
	e := harness.New(t)
	ph := harness.Phones(1600, 3)
	e.Register(harness.ShopApp, harness.ShopToken, ph...)
	for phone, city := range map[string]string{ph[0]: "London", ph[1]: "Paris"} {
		e.MustOK("setTags", map[string]any{"application": harness.ShopApp, "auth": harness.ShopToken, "hwid": phone, "tags": map[string]any{"City": city}})
	}
	code := e.Send(map[string]any{"send_date": "now", "content": "London only", "conditions": []any{[]any{"City", "EQ", "London"}}})
	v := e.WaitCounts(code, map[string]int64{"sent": 1}, 10*time.Second)
	if v.Message.Recipients != 1 || len(v.Recipients) != 1 || v.Recipients[0].To != ph[0] {
		t.Fatalf("recipients %+v, want only the London device %s", v.Recipients, ph[0])
	}
	for _, other := range ph[1:] {
		if got := e.Sim.Messages(other, 10); len(got) != 0 {
			t.Fatalf("%s got %d SMS, want none", other, len(got))
		}
	}
}

// TestBroadcastNeedsTheApplicationsConsent: a notification with no
// devices, users or conditions (Pushwoosh's "all subscribers", which its
// clients send by default) is refused unless the application allows
// broadcasts; allowed, it reaches every device of the application and no
// other application's.
func TestBroadcastNeedsTheApplicationsConsent(t *testing.T) {
	ph := harness.Phones(1700, 3)
	for _, allow := range []bool{false, true} {
		e := harness.New(t, func(c *config.Config, _ *fleet.Roles) {
			for i := range c.Applications {
				c.Applications[i].AllowBroadcast = allow && c.Applications[i].Code == harness.ShopApp
			}
		})
		e.Register(harness.ShopApp, harness.ShopToken, ph[:2]...)
		e.Register(harness.BankApp, harness.BankToken, ph[2])
		r := e.Call("createMessage", map[string]any{"application": harness.ShopApp, "auth": harness.ShopToken,
			"notifications": []any{map[string]any{"send_date": "now", "content": "to everyone"}}}, "")
		if !allow {
			if r.StatusCode != 210 || !strings.Contains(r.StatusMessage, "needs allow_broadcast: true for it") {
				t.Fatalf("broadcast without allow_broadcast: %d %q, want a 210 naming allow_broadcast", r.StatusCode, r.StatusMessage)
			}
			continue
		}
		code := e.Send(map[string]any{"send_date": "now", "content": "to everyone"})
		v := e.WaitCounts(code, map[string]int64{"sent": 2}, 10*time.Second)
		if v.Message.Recipients != 2 {
			t.Fatalf("broadcast reached %d recipients, want the application's 2", v.Message.Recipients)
		}
		if got := e.Sim.Messages(ph[2], 10); len(got) != 0 {
			t.Fatalf("another application's device got %d SMS", len(got))
		}
	}
}
