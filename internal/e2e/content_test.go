package e2e_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/smsfleet/smsfleet/internal/config"
	"github.com/smsfleet/smsfleet/internal/e2e/harness"
	"github.com/smsfleet/smsfleet/internal/fleet"
)

// sentText waits for the SMS of message code to phone to be sent and
// returns what the provider received.
func sentText(e *harness.Env, code, phone string) (text, from string) {
	e.T.Helper()
	e.WaitCounts(code, map[string]int64{"sent": 1}, 5*time.Second)
	got := e.Sim.Messages(phone, 1)
	if len(got) == 0 {
		e.T.Fatalf("nothing reached the provider for %s", phone)
	}
	return got[0].Text, got[0].From
}

func registerWith(e *harness.Env, app, token, phone string, extra map[string]any) {
	e.T.Helper()
	req := map[string]any{"application": app, "auth": token, "hwid": phone, "device_type": 18}
	for k, v := range extra {
		req[k] = v
	}
	e.MustOK("registerDevice", req)
}

func TestPresetsSupplyContent(t *testing.T) {
	e := harness.New(t)
	to := harness.Phones(1000, 1)[0]
	e.Register(harness.ShopApp, harness.ShopToken, to)

	raw := e.MustOK("createPreset", map[string]any{"application": harness.ShopApp, "auth": harness.ShopToken, "name": "Shipping", "content": map[string]string{"en": "Your order shipped", "de": "Ihre Bestellung ist unterwegs"}})
	var created struct {
		PresetCode string `json:"preset_code"`
	}
	if err := json.Unmarshal(raw, &created); err != nil || len(created.PresetCode) != 11 || created.PresetCode[5] != '-' {
		t.Fatalf("createPreset: %s", raw)
	}
	raw = e.MustOK("getPreset", map[string]any{"application": harness.ShopApp, "auth": harness.ShopToken, "preset_code": created.PresetCode})
	if !strings.Contains(string(raw), "Ihre Bestellung") || !strings.Contains(string(raw), `"name":"Shipping"`) {
		t.Fatalf("getPreset: %s", raw)
	}
	raw = e.MustOK("listPresets", map[string]any{"application": harness.ShopApp, "auth": harness.ShopToken})
	if !strings.Contains(string(raw), created.PresetCode) {
		t.Fatalf("listPresets: %s", raw)
	}
	// Presets are the application's own.
	if r := e.Call("getPreset", map[string]any{"application": harness.BankApp, "auth": harness.BankToken, "preset_code": created.PresetCode}, ""); r.StatusCode != 210 {
		t.Fatalf("bank read shop's preset: %d %s", r.StatusCode, r.StatusMessage)
	}

	code := e.Send(map[string]any{"send_date": "now", "preset": created.PresetCode, "devices": []string{to}})
	if text, _ := sentText(e, code, to); text != "Your order shipped" {
		t.Fatalf("preset text %q", text)
	}
	// An explicit content wins over the preset.
	to2 := harness.Phones(1001, 1)[0]
	e.Register(harness.ShopApp, harness.ShopToken, to2)
	code = e.Send(map[string]any{"send_date": "now", "preset": created.PresetCode, "content": "Override", "devices": []string{to2}})
	if text, _ := sentText(e, code, to2); text != "Override" {
		t.Fatalf("content over preset: %q", text)
	}
	e.MustOK("deletePreset", map[string]any{"application": harness.ShopApp, "auth": harness.ShopToken, "preset_code": created.PresetCode})
	r := e.Call("createMessage", map[string]any{"application": harness.ShopApp, "auth": harness.ShopToken, "notifications": []any{
		map[string]any{"send_date": "now", "preset": created.PresetCode, "devices": []string{to}}}}, "")
	if r.StatusCode != 210 || !strings.HasPrefix(r.StatusMessage, "notifications[0].preset: unknown preset") {
		t.Fatalf("deleted preset: %d %q", r.StatusCode, r.StatusMessage)
	}
}

func TestLanguagesAndDynamicContent(t *testing.T) {
	e := harness.New(t)
	de, fr, plain := harness.Phones(1100, 3)[0], harness.Phones(1100, 3)[1], harness.Phones(1100, 3)[2]
	registerWith(e, harness.ShopApp, harness.ShopToken, de, map[string]any{"language": "de-AT", "tags": map[string]any{"FirstName": "jürgen", "Points": 1234.5}})
	registerWith(e, harness.ShopApp, harness.ShopToken, fr, map[string]any{"language": "fr", "tags": map[string]any{"firstname": "amélie"}})
	e.Register(harness.ShopApp, harness.ShopToken, plain)

	tests := []struct {
		name    string
		n       map[string]any
		to      string
		want    string
		wantErr string // a status instead of a text
	}{
		{"device language", map[string]any{"content": map[string]string{"en": "Hi {FirstName|CapitalizeFirst|there}", "de": "Hallo {FirstName|CapitalizeFirst|du}"}}, de, "Hallo Jürgen", ""},
		{"no such language: default", map[string]any{"content": map[string]string{"de": "Hallo", "default": "Hello", "en": "Hi"}}, fr, "Hello", ""},
		{"tag name in any case", map[string]any{"content": "Bonjour {FirstName|UPPERCASE|}"}, fr, "Bonjour AMÉLIE", ""},
		{"number modifier", map[string]any{"content": "You have {Points|comma|0} points"}, de, "You have 1,234.5 points", ""},
		{"request placeholders first", map[string]any{"content": "Code {Code||} for {FirstName|CapitalizeFirst|you}", "dynamic_content_placeholders": map[string]any{"Code": 4711, "FirstName": "max"}}, de, "Code 4711 for Max", ""},
		{"missing tag with default", map[string]any{"content": "Hi {FirstName|CapitalizeFirst|there}!"}, plain, "Hi there!", ""},
		{"missing tag with empty default", map[string]any{"content": "Hi{FirstName|CapitalizeFirst|}!"}, plain, "Hi!", ""},
		{"missing tag without default: skipped", map[string]any{"content": "Hi {FirstName|CapitalizeFirst}"}, plain, "", "suppressed/missing_tag"},
		{"literal braces", map[string]any{"content": "Use {code} or {}"}, plain, "Use {code} or {}", ""},
		{"smart quotes stay GSM", map[string]any{"content": "It’s “ready” – come…"}, plain, `It's "ready" - come...`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.T = t
			n := map[string]any{"send_date": "now", "devices": []string{tt.to}}
			for k, v := range tt.n {
				n[k] = v
			}
			code := e.Send(n)
			if tt.wantErr != "" {
				status, reason, _ := strings.Cut(tt.wantErr, "/")
				v := e.WaitCounts(code, map[string]int64{status: 1}, 5*time.Second)
				if v.Recipients[0].Reason != reason {
					t.Fatalf("reason %q, want %q", v.Recipients[0].Reason, reason)
				}
				return
			}
			e.WaitCounts(code, map[string]int64{"sent": 1}, 5*time.Second)
			got := e.Sim.Messages(tt.to, 1)[0].Text
			if got != tt.want {
				t.Fatalf("text %q, want %q", got, tt.want)
			}
			// Every text here is GSM 03.38 (ü, É included), after smart encoding.
			if r := e.Message(code).Recipients[0]; r.Encoding != "gsm7" || r.Segments != 1 {
				t.Fatalf("%d segments %s for %q, want 1 gsm7", r.Segments, r.Encoding, tt.want)
			}
		})
	}
}

func TestTagsSetAfterTheRequestCount(t *testing.T) {
	e := harness.New(t)
	to := harness.Phones(1200, 1)[0]
	e.Register(harness.ShopApp, harness.ShopToken, to)
	minute := time.Now().UTC().Truncate(time.Minute).Add(time.Minute)
	e.Clock.Set(minute.Add(-2 * time.Second))
	code := e.Send(map[string]any{"send_date": minute.Format("2006-01-02 15:04"), "content": "Hi {FirstName|CapitalizeFirst|there}", "devices": []string{to}})
	e.MustOK("setTags", map[string]any{"application": harness.ShopApp, "auth": harness.ShopToken, "hwid": to, "tags": map[string]any{"FirstName": "ada"}})
	if text, _ := sentText(e, code, to); text != "Hi Ada" {
		t.Fatalf("text %q: the tag set after the request was not used", text)
	}
}

func TestSegmentsAndSender(t *testing.T) {
	e := harness.New(t, func(c *config.Config, _ *fleet.Roles) { c.Defaults.MaxSegments = 2; c.Defaults.Sender = "ACME" })
	to := harness.Phones(1300, 2)
	registerWith(e, harness.ShopApp, harness.ShopToken, to[0], map[string]any{"tags": map[string]any{"Long": strings.Repeat("x", 400)}})
	e.Register(harness.ShopApp, harness.ShopToken, to[1])

	// 134 Cyrillic letters are exactly two UCS-2 parts of 67: at the limit.
	code := e.Send(map[string]any{"send_date": "now", "content": strings.Repeat("ж", 134), "devices": []string{to[1]}, "sender": "Shop-42"})
	text, from := sentText(e, code, to[1])
	v := e.Message(code)
	if r := v.Recipients[0]; r.Segments != 2 || r.Encoding != "ucs2" || from != "Shop-42" || len([]rune(text)) != 134 {
		t.Fatalf("recipient %+v from %q", r, from)
	}
	if v.Message.Segments != 2 {
		t.Fatalf("message segments %d, want 2", v.Message.Segments)
	}
	// A rendered text over the limit fails as too_long; the default sender applies.
	code = e.Send(map[string]any{"send_date": "now", "content": "{Long||}", "devices": []string{to[0]}})
	v = e.WaitCounts(code, map[string]int64{"failed": 1}, 5*time.Second)
	if r := v.Recipients[0]; r.Error != "too_long" || r.Segments != 3 {
		t.Fatalf("rendered over the limit: %+v", r)
	}
	code = e.Send(map[string]any{"send_date": "now", "content": "short", "devices": []string{to[0]}})
	if _, from := sentText(e, code, to[0]); from != "ACME" {
		t.Fatalf("default sender %q, want ACME", from)
	}
}
