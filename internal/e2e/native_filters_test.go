package e2e_test

import (
	"testing"
	"time"

	"github.com/smsfleet/smsfleet/internal/e2e/harness"
)

// TestListMessagesFilters (issue 16): GET /api/v1/messages filters by type,
// status and due date and gives each message's sender and text; a bad
// filter is a 400 naming it.
func TestListMessagesFilters(t *testing.T) {
	e := harness.New(t)
	ph := harness.Phones(1900, 2)
	e.Register(harness.ShopApp, harness.ShopToken, ph...)
	otp := e.Send(map[string]any{"send_date": "now", "content": "Code 1234", "devices": ph[:1], "message_type": "otp", "sender": "SHOP"})
	news := e.Send(map[string]any{"send_date": "now", "content": map[string]string{"en": "News", "de": "Neues"}, "devices": ph})
	e.WaitCounts(otp, map[string]int64{"sent": 1}, 10*time.Second)
	e.WaitCounts(news, map[string]int64{"sent": 2}, 10*time.Second)
	today := time.Now().UTC().Format("2006-01-02")

	type list struct {
		Messages []struct {
			Code, Type, Sender string
			Content            any
		}
	}
	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"", []string{news, otp}},
		{"?type=otp", []string{otp}},
		{"?status=sent&type=transactional", []string{news}},
		{"?from=" + today + "&to=" + today, []string{news, otp}},
		{"?to=2020-01-01", nil},
		{"?status=failed", nil},
	} {
		var v list
		if st := e.Native("/api/v1/messages"+tc.query, harness.ShopToken, &v); st != 200 {
			t.Fatalf("%s: HTTP %d", tc.query, st)
		}
		var got []string
		for _, m := range v.Messages {
			got = append(got, m.Code)
			if m.Code == otp && (m.Sender != "SHOP" || m.Content != "Code 1234") {
				t.Errorf("otp listed as %+v, want its sender and text", m)
			}
		}
		if len(got) != len(tc.want) || (len(got) > 0 && (got[0] != tc.want[0] || got[len(got)-1] != tc.want[len(tc.want)-1])) {
			t.Errorf("%s: %v, want %v", tc.query, got, tc.want)
		}
	}
	for _, bad := range []string{"?from=11/01/2026", "?type=push", "?status=lost", "?from=2026-11-02&to=2026-11-01"} {
		var v map[string]string
		if st := e.Native("/api/v1/messages"+bad, harness.ShopToken, &v); st != 400 || v["error"] == "" {
			t.Errorf("%s: HTTP %d %v, want 400 naming the filter", bad, st, v)
		}
	}
}
