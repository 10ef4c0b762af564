package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestGuardsValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		g    Guards
		err  string
	}{
		{"empty", Guards{}, ""},
		{"full", Guards{Countries: []string{"GB", "fr"}, DeniedRanges: []string{"+449"}, Senders: []string{"ACME", "+442071234567"},
			DefaultSender: "ACME", Rate: 10, Burst: 20, OTPPerPhoneHour: 5, OTPPerPrefixMinute: 50, PrefixDigits: 8}, ""},
		{"bad country", Guards{Countries: []string{"UK"}}, "guards.countries[0]: \"UK\" is not an ISO 3166 country code"},
		{"bad range", Guards{DeniedRanges: []string{"449"}}, "guards.denied_ranges[0]: \"449\" is not an E.164 prefix"},
		{"bad sender", Guards{Senders: []string{"AC!ME"}}, "guards.senders[0]"},
		{"default not allowed", Guards{Senders: []string{"ACME"}, DefaultSender: "HSBC"}, "guards.default_sender: \"HSBC\" is not one of senders"},
		{"negative rate", Guards{Rate: -1}, "guards.rate: must be from 0"},
		{"burst without rate", Guards{Burst: 3}, "guards.burst: set without rate"},
		{"negative OTP cap", Guards{OTPPerPhoneHour: -1}, "guards.otp_per_phone_hour"},
		{"prefix too long", Guards{PrefixDigits: 16}, "guards.prefix_digits"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.g.Validate("guards")
			if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
				t.Fatalf("got %v, want %q", err, tc.err)
			}
		})
	}
}

func TestGuardsOfMergesFleetAndApplication(t *testing.T) {
	c := Config{Guards: Guards{Rate: 10, OTPPerPhoneHour: 5, Countries: []string{"GB"}},
		Applications: []Application{{Code: "SHOP1-00001", Guards: &Guards{Rate: 2, DeniedRanges: []string{"+4470"}, Senders: []string{"acme"}}}}}
	g := c.GuardsOf("SHOP1-00001")
	if g.Rate != 2 || g.OTPPerPhoneHour != 5 || len(g.Countries) != 1 || g.PrefixDigits != DefaultPrefixDigits {
		t.Fatalf("merged %+v", g)
	}
	if want := len(DefaultDeniedRanges) + 1; len(g.DeniedRanges) != want {
		t.Fatalf("denied ranges %v, want the defaults and the application's", g.DeniedRanges)
	}
	if other := c.GuardsOf("BANK0-00002"); other.Rate != 10 {
		t.Fatalf("fleet default %+v", other)
	}
	c.Guards.DeniedRanges = []string{}
	if got := c.GuardsOf("BANK0-00002").DeniedRanges; len(got) != 0 {
		t.Fatalf("an explicit empty list keeps %v", got)
	}
}

// TestBadGuardsRefusedAtStart: a configuration file with a bad guard stops
// the start with an error naming the application and the field.
func TestBadGuardsRefusedAtStart(t *testing.T) {
	for _, tc := range []struct{ yaml, err string }{
		{"guards:\n  countries: [XX]\n", "guards.countries[0]"},
		{"applications:\n  - code: SHOP1-00001\n    server_token: shop-server-token\n    guards:\n      senders: [ACME]\n      default_sender: HSBC\n",
			"application SHOP1-00001 guards.default_sender"},
		{"applications:\n  - code: SHOP1-00001\n    server_token: shop-server-token\n    guards:\n      rate: -2\n", "application SHOP1-00001 guards.rate"},
		{"applications:\n  - code: SHOP1-00001\n    server_token: shop-server-token\n    guards:\n      ratee: 2\n", "field ratee not found"},
	} {
		path := filepath.Join(t.TempDir(), "c.yaml")
		if err := os.WriteFile(path, []byte(tc.yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		t.Setenv("SMSFLEET_CONFIG", path)
		_, err := Load()
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Fatalf("%q: got %v, want %q", tc.yaml, err, tc.err)
		}
	}
}
