package e2e_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/smsfleet/smsfleet/internal/config"
	"github.com/smsfleet/smsfleet/internal/e2e/harness"
	"github.com/smsfleet/smsfleet/internal/fleet"
)

// optOut calls the opt-out API: POST adds, DELETE removes.
func optOut(e *harness.Env, method, phone string) int {
	e.T.Helper()
	var req *http.Request
	if method == http.MethodPost {
		body, _ := json.Marshal(map[string]string{"phone": phone})
		req, _ = http.NewRequest(method, e.API.URL+"/api/v1/optouts", bytes.NewReader(body))
	} else {
		req, _ = http.NewRequest(method, e.API.URL+"/api/v1/optouts/"+url.PathEscape(phone), nil)
	}
	req.Header.Set("Authorization", "Token "+harness.ShopToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.T.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestSuppressionByEachReason(t *testing.T) {
	e := harness.New(t)
	consenting, silent, optedOut := harness.Phones(2000, 3)[0], harness.Phones(2000, 3)[1], harness.Phones(2000, 3)[2]
	registerWith(e, harness.ShopApp, harness.ShopToken, consenting, map[string]any{"tags": map[string]any{"SMSMarketingConsent": true}})
	e.Register(harness.ShopApp, harness.ShopToken, silent)
	registerWith(e, harness.ShopApp, harness.ShopToken, optedOut, map[string]any{"tags": map[string]any{"SMSMarketingConsent": true}})
	if st := optOut(e, http.MethodPost, optedOut); st != http.StatusCreated {
		t.Fatalf("opt out: HTTP %d", st)
	}
	if st := optOut(e, http.MethodPost, optedOut); st != http.StatusOK {
		t.Fatalf("opt out again: HTTP %d, want 200 (already opted out)", st)
	}
	var list struct{ Optouts []struct{ Phone string } }
	e.Native("/api/v1/optouts", harness.ShopToken, &list)
	if len(list.Optouts) != 1 || list.Optouts[0].Phone != optedOut {
		t.Fatalf("opt-out list %+v", list)
	}

	tests := []struct {
		typ        string
		to         string
		wantStatus string
		wantReason string
	}{
		{"marketing", consenting, "sent", ""},
		{"marketing", silent, "suppressed", "no_consent"},
		{"marketing", optedOut, "suppressed", "opted_out"},
		{"transactional", optedOut, "suppressed", "opted_out"},
		{"otp", optedOut, "sent", ""}, // a security code still goes
		{"transactional", silent, "sent", ""},
	}
	for _, tt := range tests {
		t.Run(tt.typ+" "+tt.wantStatus+" "+tt.wantReason, func(t *testing.T) {
			e.T = t
			code := e.Send(map[string]any{"send_date": "now", "content": "x", "devices": []string{tt.to}, "message_type": tt.typ})
			v := e.WaitCounts(code, map[string]int64{tt.wantStatus: 1}, 5*time.Second)
			if v.Recipients[0].Reason != tt.wantReason {
				t.Fatalf("reason %q, want %q", v.Recipients[0].Reason, tt.wantReason)
			}
		})
	}
	e.T = t
	// Opted back in, transactional goes again.
	if st := optOut(e, http.MethodDelete, optedOut); st != http.StatusOK {
		t.Fatalf("opt in: HTTP %d", st)
	}
	if st := optOut(e, http.MethodDelete, optedOut); st != http.StatusNotFound {
		t.Fatalf("opt in twice: HTTP %d, want 404", st)
	}
	code := e.Send(map[string]any{"send_date": "now", "content": "x", "devices": []string{optedOut}})
	e.WaitCounts(code, map[string]int64{"sent": 1}, 5*time.Second)
	// getResults counts suppressed SMS too.
	code = e.Send(map[string]any{"send_date": "now", "content": "x", "devices": []string{silent, consenting}, "message_type": "marketing"})
	e.WaitCounts(code, map[string]int64{"sent": 1, "suppressed": 1}, 5*time.Second)
	raw := e.MustOK("getMsgStats", map[string]any{"application": harness.ShopApp, "auth": harness.ShopToken, "message": code})
	var req struct {
		RequestID string `json:"request_id"`
	}
	_ = json.Unmarshal(raw, &req)
	raw = e.MustOK("getResults", map[string]any{"auth": harness.ShopToken, "request_id": req.RequestID})
	if !strings.Contains(string(raw), `"suppressed":1`) || !strings.Contains(string(raw), `"sent":1`) {
		t.Fatalf("getResults: %s", raw)
	}
}

func TestOTPRespectsOptOutWhenTheApplicationSaysSo(t *testing.T) {
	no := false
	e := harness.New(t, func(c *config.Config, _ *fleet.Roles) {
		for i := range c.Applications {
			c.Applications[i].Policy.OTPIgnoresOptOut = &no
		}
	})
	to := harness.Phones(2100, 1)[0]
	e.Register(harness.ShopApp, harness.ShopToken, to)
	optOut(e, http.MethodPost, to)
	code := e.Send(map[string]any{"send_date": "now", "content": "123456", "devices": []string{to}, "message_type": "otp"})
	v := e.WaitCounts(code, map[string]int64{"suppressed": 1}, 5*time.Second)
	if v.Recipients[0].Reason != "opted_out" {
		t.Fatalf("reason %q", v.Recipients[0].Reason)
	}
}

func TestFrequencyCapping(t *testing.T) {
	e := harness.New(t)
	to := harness.Phones(2200, 1)[0]
	registerWith(e, harness.ShopApp, harness.ShopToken, to, map[string]any{"tags": map[string]any{"SMSMarketingConsent": "true"}})
	capped := map[string]any{"send_date": "now", "content": "offer", "devices": []string{to}, "message_type": "marketing", "capping_days": 1, "capping_count": 2}
	for i, want := range []string{"sent", "sent", "suppressed"} {
		code := e.Send(capped)
		v := e.WaitCounts(code, map[string]int64{want: 1}, 5*time.Second)
		if want == "suppressed" && v.Recipients[0].Reason != "frequency_cap" {
			t.Fatalf("send %d: reason %q", i, v.Recipients[0].Reason)
		}
	}
	// Transactional SMS are neither capped nor counted.
	code := e.Send(map[string]any{"send_date": "now", "content": "receipt", "devices": []string{to}})
	e.WaitCounts(code, map[string]int64{"sent": 1}, 5*time.Second)
	// A marketing message without capping still goes.
	code = e.Send(map[string]any{"send_date": "now", "content": "offer", "devices": []string{to}, "message_type": "marketing"})
	e.WaitCounts(code, map[string]int64{"sent": 1}, 5*time.Second)
}

func TestQuietHoursDeferMarketingToTheWindowsEnd(t *testing.T) {
	e := harness.New(t, func(c *config.Config, _ *fleet.Roles) { c.Defaults.QuietHours = "22:00-06:00" })
	berlin, _ := time.LoadLocation("Europe/Berlin")
	german := harness.Phones(2300, 1)[0] // +49: judged in Berlin time
	registerWith(e, harness.ShopApp, harness.ShopToken, german, map[string]any{"tags": map[string]any{"SMSMarketingConsent": true}})
	tokyoDevice := harness.Phones(2301, 1)[0]
	registerWith(e, harness.ShopApp, harness.ShopToken, tokyoDevice, map[string]any{"timezone": "Asia/Tokyo", "tags": map[string]any{"SMSMarketingConsent": true}})

	// 05:59:57 in Berlin: inside the window, three seconds before its end.
	now := time.Now().In(berlin)
	end := time.Date(now.Year(), now.Month(), now.Day(), 6, 0, 0, 0, berlin)
	e.Clock.Set(end.Add(-3 * time.Second))
	code := e.Send(map[string]any{"send_date": "now", "content": "Morning offer", "devices": []string{german}, "message_type": "marketing"})
	otp := e.Send(map[string]any{"send_date": "now", "content": "123456", "devices": []string{german}, "message_type": "otp"})
	e.WaitCounts(otp, map[string]int64{"sent": 1}, 5*time.Second) // quiet hours are for marketing only
	time.Sleep(time.Second)
	if v := e.Message(code); v.Message.Counts["queued"] != 1 {
		t.Fatalf("inside quiet hours: counts %v, want still queued", harness.NonZero(v.Message.Counts))
	}
	start := time.Now()
	e.WaitCounts(code, map[string]int64{"sent": 1}, 10*time.Second)
	if waited := time.Since(start); waited < time.Second {
		t.Fatalf("sent %s after the check, before the window ended", waited)
	}
	// The device's own zone wins over the number's: 06:00 in Berlin is
	// 13:00 or 14:00 in Tokyo, outside the window, so it goes at once.
	e.Clock.Set(end.Add(-3 * time.Second))
	code = e.Send(map[string]any{"send_date": "now", "content": "Offer", "devices": []string{tokyoDevice}, "message_type": "marketing"})
	e.WaitCounts(code, map[string]int64{"sent": 1}, 2*time.Second)
	// A validity that ends inside the window expires instead of going late.
	e.Clock.Set(end.Add(-time.Hour))
	code = e.Send(map[string]any{"send_date": "now", "content": "Flash", "devices": []string{german}, "message_type": "marketing", "validity": 600})
	v := e.WaitCounts(code, map[string]int64{"expired": 1}, 5*time.Second)
	if !strings.Contains(v.Recipients[0].Error, "quiet_hours") {
		t.Fatalf("expired with %q", v.Recipients[0].Error)
	}
}

func TestLocalTimeSends(t *testing.T) {
	e := harness.New(t)
	german, british, tokyo := harness.Phones(2400, 3)[0], "+447911123456", harness.Phones(2400, 3)[2]
	e.Register(harness.ShopApp, harness.ShopToken, german, british)
	registerWith(e, harness.ShopApp, harness.ShopToken, tokyo, map[string]any{"timezone": "Asia/Tokyo"})

	// send_date is the next minute's wall clock; in Berlin that is 2 s
	// ahead, in London an hour later, in Tokyo long past (goes now).
	berlin, _ := time.LoadLocation("Europe/Berlin")
	wall := time.Now().In(berlin).Truncate(time.Minute).Add(time.Minute)
	e.Clock.Set(wall.Add(-2 * time.Second))
	code := e.Send(map[string]any{"send_date": wall.Format("2006-01-02 15:04"), "timezone": "Europe/Berlin", "ignore_user_timezone": false,
		"content": "Good morning", "devices": []string{german, british, tokyo}})
	v := e.Message(code)
	if len(v.Message.Groups) != 3 {
		t.Fatalf("groups %+v, want 3 (Tokyo now, Berlin, London)", v.Message.Groups)
	}
	e.WaitCounts(code, map[string]int64{"sent": 1, "scheduled": 2}, 2*time.Second)
	if got := e.Sim.Messages(tokyo, 1); len(got) != 1 {
		t.Fatal("Tokyo's SMS, whose local time had passed, did not go at once")
	}
	e.WaitCounts(code, map[string]int64{"sent": 2, "scheduled": 1}, 10*time.Second)
	if got := e.Sim.Messages(german, 1); len(got) != 1 {
		t.Fatal("Berlin's SMS did not go at its minute")
	}
	if got := e.Sim.Messages(british, 1); len(got) != 0 {
		t.Fatal("London's SMS went an hour early")
	}
	// Cancel: London's group has not started, so it is canceled whole.
	e.MustOK("deleteMessage", map[string]any{"application": harness.ShopApp, "auth": harness.ShopToken, "message": code})
	e.WaitCounts(code, map[string]int64{"sent": 2, "canceled": 1}, time.Second)
}

func TestExpiredWhenNoProviderTookItInTime(t *testing.T) {
	e := harness.New(t, func(_ *config.Config, r *fleet.Roles) { r.Worker = false })
	to := harness.Phones(2500, 2)
	e.Register(harness.ShopApp, harness.ShopToken, to...)
	short := e.Send(map[string]any{"send_date": "now", "content": "123456", "devices": []string{to[0]}, "message_type": "otp", "validity": 30})
	long := e.Send(map[string]any{"send_date": "now", "content": "receipt", "devices": []string{to[1]}})
	// The workers were down for a minute.
	e.Clock.Advance(time.Minute)
	harness.StartWorker(t, e)
	v := e.WaitCounts(short, map[string]int64{"expired": 1}, 5*time.Second)
	if v.Recipients[0].Error != "expired_validity" {
		t.Fatalf("expired with %q", v.Recipients[0].Error)
	}
	e.WaitCounts(long, map[string]int64{"sent": 1}, 5*time.Second) // 24 h validity
	if len(e.Sim.Messages(to[0], 1)) != 0 {
		t.Fatal("the expired OTP reached the provider")
	}
}
