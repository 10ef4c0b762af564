package e2e_test

import (
	"net/url"
	"testing"
	"time"

	"github.com/smsfleet/smsfleet/internal/e2e/harness"
)

// TestSMSByPhone (issue 16): every SMS the worker loads is indexed under
// its phone, so GET /api/v1/sms?phone= (and Message History's search)
// finds a direct send and a fan-out's SMS, newest first, in any format the
// intake accepts; another application's SMS to the same phone are not in
// it; a bad phone is a 400 naming the field.
func TestSMSByPhone(t *testing.T) {
	e := harness.New(t)
	ph := harness.Phones(1800, 3)
	e.Register(harness.ShopApp, harness.ShopToken, ph...)
	e.Register(harness.BankApp, harness.BankToken, ph[0])
	first := e.Send(map[string]any{"send_date": "now", "content": "one", "devices": ph[:1]})
	e.WaitCounts(first, map[string]int64{"sent": 1}, 10*time.Second)
	second := e.Send(map[string]any{"send_date": "now", "content": "two", "devices": ph})
	e.WaitCounts(second, map[string]int64{"sent": 3}, 10*time.Second)
	e.MustOK("createMessage", map[string]any{"application": harness.BankApp, "auth": harness.BankToken,
		"notifications": []any{map[string]any{"send_date": "now", "content": "bank", "devices": ph[:1]}}})

	var v struct {
		Phone string
		SMS   []struct {
			Message, To, Status string
		}
	}
	spaced := url.QueryEscape(ph[0][:3] + " " + ph[0][3:6] + " " + ph[0][6:]) // "+49 151 12001800"
	if st := e.Native("/api/v1/sms?phone="+spaced, harness.ShopToken, &v); st != 200 {
		t.Fatalf("GET /api/v1/sms: HTTP %d", st)
	}
	if v.Phone != ph[0] || len(v.SMS) != 2 || v.SMS[0].Message != second || v.SMS[1].Message != first {
		t.Fatalf("history of %s: %+v, want the second message then the first, the bank's not at all", ph[0], v)
	}
	for _, s := range v.SMS {
		if s.To != ph[0] || s.Status != "sent" {
			t.Fatalf("SMS %+v, want sent to %s", s, ph[0])
		}
	}
	var bad map[string]string
	if st := e.Native("/api/v1/sms?phone=hello", harness.ShopToken, &bad); st != 400 || bad["error"] == "" {
		t.Fatalf("a bad phone: HTTP %d %v, want 400 naming phone", st, bad)
	}
}
