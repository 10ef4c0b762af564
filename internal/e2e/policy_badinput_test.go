package e2e_test

import (
	"bytes"
	"net/http"
	"strings"
	"testing"

	"github.com/smsfleet/smsfleet/internal/config"
	"github.com/smsfleet/smsfleet/internal/e2e/harness"
	"github.com/smsfleet/smsfleet/internal/fleet"
)

// TestBadInputContentAndPolicy: every bad content or policy argument is a
// 210 naming the field, and nothing is stored or enqueued.
func TestBadInputContentAndPolicy(t *testing.T) {
	e := harness.New(t, func(c *config.Config, _ *fleet.Roles) {
		c.Defaults.MaxSegments = 3
		c.Callback.Secrets = map[string]string{harness.ShopApp: "shop-callback-secret"}
	})
	to := harness.Phones(3000, 1)[0]
	e.Register(harness.ShopApp, harness.ShopToken, to)
	n := func(overrides map[string]any) map[string]any { return goodNotification(to, overrides) }
	create := func(overrides map[string]any) map[string]any {
		return map[string]any{"application": harness.ShopApp, "auth": harness.ShopToken, "notifications": []any{n(overrides)}}
	}
	preset := func(content any) map[string]any {
		return map[string]any{"application": harness.ShopApp, "auth": harness.ShopToken, "name": "p", "content": content}
	}
	tests := []struct {
		name   string
		method string
		req    map[string]any
		field  string
		text   string // also in the message
	}{
		{"unknown preset", "createMessage", create(map[string]any{"content": nil, "preset": "ABCDE-12345"}), "notifications[0].preset", "unknown preset"},
		{"broken template", "createMessage", create(map[string]any{"content": "Hi {Name|UPPERCASE, welcome"}), "notifications[0].content", "unterminated placeholder at position 4"},
		{"broken template in a language", "createMessage", create(map[string]any{"content": map[string]string{"en": "ok", "de": "Hallo {Name|x"}}), "notifications[0].content.de", "position 7"},
		{"content over the segment limit", "createMessage", create(map[string]any{"content": strings.Repeat("a", 153*3+1)}), "notifications[0].content", "4 segments"},
		{"ucs2 content over the limit", "createMessage", create(map[string]any{"content": strings.Repeat("ж", 67*3+1)}), "notifications[0].content", "ucs2"},
		{"empty language text", "createMessage", create(map[string]any{"content": map[string]string{"en": ""}}), "notifications[0].content.en", "empty"},
		{"content of a wrong type", "createMessage", create(map[string]any{"content": []string{"a"}}), "notifications[0].content", "string or an object"},
		{"sender too long", "createMessage", create(map[string]any{"sender": "ACME SUPER SALE"}), "notifications[0].sender", "longer than 11"},
		{"sender with a non-GSM letter", "createMessage", create(map[string]any{"sender": "Café"}), "notifications[0].sender", "é"},
		{"sender a bad number", "createMessage", create(map[string]any{"sender": "+4900"}), "notifications[0].sender", ""},
		{"validity zero", "createMessage", create(map[string]any{"validity": 0}), "notifications[0].validity", "1 to 604800"},
		{"validity over 7 days", "createMessage", create(map[string]any{"validity": 604801}), "notifications[0].validity", "1 to 604800"},
		{"delivery_wait zero", "createMessage", create(map[string]any{"delivery_wait": 0}), "notifications[0].delivery_wait", "1 to 604800"},
		{"delivery_wait over 7 days", "createMessage", create(map[string]any{"delivery_wait": 604801}), "notifications[0].delivery_wait", "1 to 604800"},
		{"status_callback not http", "createMessage", create(map[string]any{"status_callback": "ftp://example.com/cb"}), "notifications[0].status_callback", "http or https"},
		{"status_callback relative", "createMessage", create(map[string]any{"status_callback": "/cb"}), "notifications[0].status_callback", "absolute"},
		{"status_callback without a host", "createMessage", create(map[string]any{"status_callback": "https:///cb"}), "notifications[0].status_callback", "absolute"},
		{"status_callback of a wrong type", "createMessage", create(map[string]any{"status_callback": 7}), "notifications[0].status_callback", ""},
		{"status_callback too long", "createMessage", create(map[string]any{"status_callback": "https://example.com/" + strings.Repeat("a", 2048)}), "notifications[0].status_callback", "2048"},
		{"status_callback for an application without a callback secret", "createMessage", map[string]any{"application": harness.BankApp, "auth": harness.BankToken, "notifications": []any{goodNotification(to, map[string]any{"status_callback": "https://example.com/cb"})}}, "notifications[0].status_callback", "no callback secret"},
		{"capping days alone", "createMessage", create(map[string]any{"capping_days": 3}), "notifications[0].capping_count", "required"},
		{"capping count alone", "createMessage", create(map[string]any{"capping_count": 3}), "notifications[0].capping_days", "required"},
		{"capping days over 30", "createMessage", create(map[string]any{"capping_days": 31, "capping_count": 1}), "notifications[0].capping_days", "1 to 30"},
		{"capping count zero", "createMessage", create(map[string]any{"capping_days": 1, "capping_count": 0}), "notifications[0].capping_count", "1 to 1000"},
		{"placeholders not an object", "createMessage", create(map[string]any{"dynamic_content_placeholders": []int{1}}), "notifications[0].dynamic_content_placeholders", "object"},
		{"placeholder value an object", "createMessage", create(map[string]any{"dynamic_content_placeholders": map[string]any{"x": map[string]int{}}}), "notifications[0].dynamic_content_placeholders.x", ""},
		{"preset without name", "createPreset", map[string]any{"application": harness.ShopApp, "auth": harness.ShopToken, "content": "hi"}, "name", "required"},
		{"preset without content", "createPreset", map[string]any{"application": harness.ShopApp, "auth": harness.ShopToken, "name": "p"}, "content", "required"},
		{"preset with a broken template", "createPreset", preset("Hi {Name|x"), "content", "unterminated"},
		{"preset over the segment limit", "createPreset", preset(strings.Repeat("b", 500)), "content", "segments"},
		{"unknown preset to get", "getPreset", map[string]any{"application": harness.ShopApp, "auth": harness.ShopToken, "preset_code": "ABCDE-12345"}, "preset_code", "unknown"},
		{"unknown preset to delete", "deletePreset", map[string]any{"application": harness.ShopApp, "auth": harness.ShopToken, "preset_code": "ABCDE-12345"}, "preset_code", "unknown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.T = t
			before := keyspaceOf(e)
			r := e.Call(tt.method, tt.req, "")
			if r.HTTP != 200 || r.StatusCode != 210 || !strings.HasPrefix(r.StatusMessage, tt.field+": ") || !strings.Contains(r.StatusMessage, tt.text) {
				t.Fatalf("HTTP %d status %d %q, want a 210 starting %q containing %q", r.HTTP, r.StatusCode, r.StatusMessage, tt.field+": ", tt.text)
			}
			if d := before.diff(keyspaceOf(e)); d != "" {
				t.Fatalf("a refused request changed the store: %s", d)
			}
		})
	}
	// The opt-out API: a bad phone is a 400 and changes nothing.
	e.T = t
	for _, body := range []string{`{"phone":"12"}`, `{"phone":""}`, `{"phone":`, `{}`, `{"phone":"+4915112340099","sender":"not a sender!"}`} {
		before := keyspaceOf(e)
		req, _ := http.NewRequest(http.MethodPost, e.API.URL+"/api/v1/optouts", bytes.NewReader([]byte(body)))
		req.Header.Set("Authorization", "Token "+harness.ShopToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("opt-out %s: HTTP %d, want 400", body, resp.StatusCode)
		}
		if d := before.diff(keyspaceOf(e)); d != "" {
			t.Errorf("opt-out %s changed the store: %s", body, d)
		}
	}
	if st := optOut(e, http.MethodDelete, "not-a-phone"); st != http.StatusBadRequest {
		t.Errorf("opt-in of a bad phone: HTTP %d, want 400", st)
	}
}
