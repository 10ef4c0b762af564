package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestQuietHours(t *testing.T) {
	berlin, _ := time.LoadLocation("Europe/Berlin")
	at := func(h, m int) time.Time { return time.Date(2026, 11, 24, h, m, 0, 0, berlin) }
	tests := []struct {
		window   string
		now      time.Time
		holds    bool
		end      time.Time
		parseErr string
	}{
		{"21:00-09:00", at(22, 30), true, at(9, 0).AddDate(0, 0, 1), ""},
		{"21:00-09:00", at(3, 0), true, at(9, 0), ""},
		{"21:00-09:00", at(21, 0), true, at(9, 0).AddDate(0, 0, 1), ""},
		{"21:00-09:00", at(9, 0), false, time.Time{}, ""}, // the end is outside
		{"21:00-09:00", at(12, 0), false, time.Time{}, ""},
		{"12:00-14:00", at(13, 59), true, at(14, 0), ""},
		{"12:00-14:00", at(11, 59), false, time.Time{}, ""},
		{"", at(3, 0), false, time.Time{}, ""},
		{"off", at(3, 0), false, time.Time{}, ""},
		{"21-09", at(3, 0), false, time.Time{}, "HH:MM-HH:MM"},
		{"25:00-09:00", at(3, 0), false, time.Time{}, "HH:MM-HH:MM"},
		{"09:00-09:00", at(3, 0), false, time.Time{}, "empty window"},
	}
	for _, tt := range tests {
		q, err := ParseQuietHours(tt.window)
		if tt.parseErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.parseErr) {
				t.Errorf("%q: error %v, want %q", tt.window, err, tt.parseErr)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%q: %v", tt.window, err)
		}
		holds, end := q.Holds(tt.now)
		if holds != tt.holds || !end.Equal(tt.end) {
			t.Errorf("%q at %s: %v until %s, want %v until %s", tt.window, tt.now.Format("15:04"), holds, end, tt.holds, tt.end)
		}
	}
}

func TestConfigFileAddsApplicationsWithPolicies(t *testing.T) {
	dir := t.TempDir()
	write := func(body string) string {
		p := filepath.Join(dir, "smsfleet.yaml")
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	t.Setenv("SMSFLEET_APPLICATIONS", "SHOP1-00001:shop-server-token")
	t.Setenv("BANK_TOKEN", "bank-secret-token")
	t.Setenv("SMSFLEET_CONFIG", write(`
applications:
  - code: BANK1-00002
    server_token_env: BANK_TOKEN
    sender: BANK
    max_segments: 4
    smart_encoding: false
    quiet_hours: "21:00-08:00"
    otp_ignores_optout: false
`))
	c, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	bank, shop := c.PolicyOf("BANK1-00002"), c.PolicyOf("SHOP1-00001")
	if bank.Sender != "BANK" || bank.MaxSegments != 4 || bank.SmartEncoding || bank.OTPIgnoresOptOut || bank.Quiet.String() != "21:00-08:00" {
		t.Fatalf("bank policy %+v", bank)
	}
	if shop.MaxSegments != 10 || !shop.SmartEncoding || !shop.OTPIgnoresOptOut || shop.Quiet.Set || shop.ConsentTag != "SMSMarketingConsent" || shop.Validity.OTP != 5*time.Minute {
		t.Fatalf("shop policy (defaults) %+v", shop)
	}
	if len(c.Applications) != 2 || c.Applications[1].ServerToken != "bank-secret-token" {
		t.Fatalf("applications %+v", c.Applications)
	}
	testBadConfigFiles(t, dir, write)
}

// testBadConfigFiles checks that each broken file (or missing one) stops
// Load.
func testBadConfigFiles(t *testing.T, dir string, write func(string) string) {
	bad := map[string]string{
		"unknown key":         "applications:\n  - code: BANK1-00002\n    server_token: bank-secret-token\n    quiet_hour: \"21:00-08:00\"\n",
		"bad quiet hours":     "applications:\n  - code: BANK1-00002\n    server_token: bank-secret-token\n    quiet_hours: late\n",
		"too many segments":   "applications:\n  - code: BANK1-00002\n    server_token: bank-secret-token\n    max_segments: 300\n",
		"listed twice":        "applications:\n  - code: SHOP1-00001\n    server_token: other-server-token\n",
		"shared token":        "applications:\n  - code: BANK1-00002\n    server_token: shop-server-token\n",
		"empty token env":     "applications:\n  - code: BANK1-00002\n    server_token_env: NOT_SET_ANYWHERE\n",
		"not yaml":            "applications: [",
		"bad application key": "applications:\n  - code: bank\n    server_token: bank-secret-token\n",
	}
	for name, body := range bad {
		t.Run(name, func(t *testing.T) {
			t.Setenv("SMSFLEET_CONFIG", write(body))
			if _, err := Load(); err == nil {
				t.Fatal("loaded")
			}
		})
	}
	t.Run("missing file", func(t *testing.T) {
		t.Setenv("SMSFLEET_CONFIG", filepath.Join(dir, "nope.yaml"))
		if _, err := Load(); err == nil || !strings.Contains(err.Error(), "SMSFLEET_CONFIG") {
			t.Fatalf("error %v", err)
		}
	})
	t.Run("validity default out of range", func(t *testing.T) {
		t.Setenv("SMSFLEET_CONFIG", "")
		t.Setenv("SMSFLEET_VALIDITY_OTP", "0s")
		if _, err := Load(); err == nil || !strings.Contains(err.Error(), "SMSFLEET_VALIDITY_OTP") {
			t.Fatalf("error %v", err)
		}
	})
}
