package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestProvidersAndRoutes(t *testing.T) {
	dir := t.TempDir()
	load := func(t *testing.T, body string, env map[string]string) (Config, error) {
		p := filepath.Join(dir, "c.yaml")
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		t.Setenv("SMSFLEET_CONFIG", p)
		t.Setenv("SMSFLEET_APPLICATIONS", "SHOP1-00001:shop-server-token")
		// Webhook secrets and the public URL are required (webhooks_test.go).
		t.Setenv("SMSFLEET_SIMULATOR_SECRET", "sim-secret")
		t.Setenv("SMSFLEET_PUBLIC_URL", "https://sms.example.com")
		for k, v := range env {
			t.Setenv(k, v)
		}
		return Load()
	}
	good := `
providers:
  - {name: tw, kind: twilio, url: "https://api.example", account_sid: AC1, auth_token_env: TW_TOKEN}
  - {name: gen, kind: json, url: "https://gw.example/send", auth_value_env: GEN_KEY, ref_field: data.id, dlr_secret_env: GEN_DLR}
  - {name: smsc, kind: smpp, addr: "smsc.example:2775", system_id: fleet, password_env: SMPP_PASS}
  - {name: sim-a, kind: simulator}
route: {providers: [tw, gen]}
applications:
  - code: BANK1-00002
    server_token: bank-server-token
    route:
      providers: [smsc, tw]
      weights: {smsc: 3, tw: 1}
      overrides: {"+234": [gen], "NG": [gen, tw]}
`
	c, err := load(t, good, map[string]string{"TW_TOKEN": "t", "GEN_KEY": "k", "GEN_DLR": "d"})
	if err != nil {
		t.Fatal(err)
	}
	if r := c.RouteOf("SHOP1-00001"); len(r.Providers) != 2 || r.Providers[0] != "tw" {
		t.Fatalf("default route %+v", r)
	}
	if r := c.RouteOf("BANK1-00002"); r.Providers[0] != "smsc" || r.Weights["smsc"] != 3 || len(r.Overrides["NG"]) != 2 {
		t.Fatalf("bank route %+v", r)
	}
	t.Run("SMSFLEET_ROUTE overrides the file's default", func(t *testing.T) {
		c, err := load(t, good, map[string]string{"TW_TOKEN": "t", "SMSFLEET_ROUTE": "sim-a, gen"})
		if err != nil || strings.Join(c.RouteOf("SHOP1-00001").Providers, ",") != "sim-a,gen" {
			t.Fatalf("%v %+v", err, c.DefaultRoute)
		}
	})

	bad := []struct {
		name, body, want string
	}{
		{"unknown kind", "providers: [{name: x, kind: carrier-pigeon}]", "kind must be"},
		{"bad name", "providers: [{name: X_Y, kind: simulator}]", "names are"},
		{"twice", "providers: [{name: a, kind: simulator}, {name: a, kind: simulator}]", "listed twice"},
		{"twilio without token", "providers: [{name: tw, kind: twilio, url: u, account_sid: AC1, auth_token_env: NOPE_UNSET}]", "auth_token_env"},
		{"json without url", "providers: [{name: g, kind: json}]", "url is required"},
		{"smpp without system_id", "providers: [{name: s, kind: smpp, addr: a}]", "system_id"},
		{"route to an unknown provider", "providers: [{name: a, kind: simulator}]\nroute: {providers: [b]}", "unknown provider"},
		{"empty route", "providers: [{name: a, kind: simulator}]\nroute: {providers: []}", ""},
		{"bad override key", "providers: [{name: a, kind: simulator}]\nroute: {providers: [a], overrides: {nigeria: [a]}}", "country"},
		{"negative weight", "providers: [{name: a, kind: simulator}]\nroute: {providers: [a], weights: {a: -1}}", "negative"},
		{"app route unknown", "providers: [{name: a, kind: simulator}]\napplications: [{code: BANK1-00002, server_token: bank-server-token, route: {providers: [z]}}]", "unknown provider"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, err := load(t, tt.body, nil)
			if tt.want == "" {
				return // accepted or not, it must not panic
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
		})
	}
	t.Run("bad breaker", func(t *testing.T) {
		if _, err := load(t, "", map[string]string{"SMSFLEET_BREAKER_FAILURE_RATIO": "1.5"}); err == nil || !strings.Contains(err.Error(), "FAILURE_RATIO") {
			t.Fatalf("error %v", err)
		}
	})
}
