package config

import (
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/smsfleet/smsfleet/internal/provider"
)

// TestWebhookSecretsRequired (issue 13 item 6): outside dev every
// provider's webhook secret is required, never a built-in default, and a
// missing one stops the load with an error naming what to set; dev
// generates the simulator's. A Twilio-style provider needs the public URL
// its signatures are checked over (item 5).
func TestWebhookSecretsRequired(t *testing.T) {
	dir := t.TempDir()
	load := func(t *testing.T, dev bool, body string, env map[string]string) (Config, error) {
		p := filepath.Join(dir, "c.yaml")
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		t.Setenv("SMSFLEET_CONFIG", p)
		t.Setenv("SMSFLEET_APPLICATIONS", "SHOP1-00001:shop-server-token")
		for k, v := range env {
			t.Setenv(k, v)
		}
		if dev {
			return LoadDev()
		}
		return Load()
	}
	sim := "providers: [{name: sim-a, kind: simulator, url: \"http://sim.example/simulator\"}]"
	for _, tt := range []struct {
		name string
		dev  bool
		body string
		env  map[string]string
		want []string // in the error; none: loads
	}{
		{"simulator without a secret", false, sim, nil, []string{"sim-a", "dlr_secret_env", "SMSFLEET_SIMULATOR_SECRET"}},
		{"simulator with SMSFLEET_SIMULATOR_SECRET", false, sim, map[string]string{"SMSFLEET_SIMULATOR_SECRET": "s3cret"}, nil},
		{"simulator with its own dlr_secret_env", false, "providers: [{name: sim-a, kind: simulator, dlr_secret_env: SIM_A_SECRET}]", map[string]string{"SIM_A_SECRET": "s3cret"}, nil},
		{"simulator whose dlr_secret_env is unset", false, "providers: [{name: sim-a, kind: simulator, dlr_secret_env: SIM_A_UNSET}]", nil, []string{"sim-a", "dlr_secret_env"}},
		{"json without dlr_secret_env", false, "providers: [{name: gw, kind: json, url: \"https://gw.example\"}]", nil, []string{"gw", "dlr_secret_env"}},
		{"dev generates the simulator's", true, sim, nil, nil},
		{"twilio without SMSFLEET_PUBLIC_URL", false, "providers: [{name: tw, kind: twilio, url: \"https://api.example\", account_sid: AC1, auth_token_env: TW_TOKEN}]",
			map[string]string{"TW_TOKEN": "t"}, []string{"tw", "SMSFLEET_PUBLIC_URL"}},
		{"twilio behind trusted proxies", false, "providers: [{name: tw, kind: twilio, url: \"https://api.example\", account_sid: AC1, auth_token_env: TW_TOKEN}]",
			map[string]string{"TW_TOKEN": "t", "SMSFLEET_TRUSTED_PROXIES": "10.0.0.0/8,fd00::/8"}, nil},
		{"a public URL that is not one", false, sim, map[string]string{"SMSFLEET_SIMULATOR_SECRET": "s", "SMSFLEET_PUBLIC_URL": "sms.example.com"}, []string{"SMSFLEET_PUBLIC_URL"}},
		{"a bad trusted proxy", false, sim, map[string]string{"SMSFLEET_SIMULATOR_SECRET": "s", "SMSFLEET_TRUSTED_PROXIES": "10.0.0.0/33"}, []string{"SMSFLEET_TRUSTED_PROXIES"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := load(t, tt.dev, tt.body, tt.env)
			if len(tt.want) > 0 {
				for _, w := range tt.want {
					if err == nil || !strings.Contains(err.Error(), w) {
						t.Fatalf("error %v, want one naming %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range c.Providers {
				src, _ := provider.SourceOf(p)
				if src.Secret == "" || src.Secret == provider.SimulatorAuthToken {
					t.Fatalf("provider %s verifies with %q", p.Name, src.Secret)
				}
			}
			if tt.env["SMSFLEET_TRUSTED_PROXIES"] != "" && !slices.Equal(c.TrustedProxies, []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}) {
				t.Fatalf("trusted proxies %v", c.TrustedProxies)
			}
		})
	}
	t.Run("dev's secret is dev's own, outside dev there is none", func(t *testing.T) {
		a, err := load(t, true, sim, nil)
		if err != nil {
			t.Fatal(err)
		}
		if a.SimulatorSecret != DevSimulatorSecret || a.Providers[0].WebhookSecret != DevSimulatorSecret {
			t.Fatalf("dev secret %q, provider %q", a.SimulatorSecret, a.Providers[0].WebhookSecret)
		}
		if _, err := load(t, false, sim, nil); err == nil || !strings.Contains(err.Error(), "SMSFLEET_SIMULATOR_SECRET") {
			t.Fatalf("outside dev without a secret: %v", err)
		}
	})
}
