package config

import (
	"strings"
	"testing"
)

// TestAdminAndQualitySettings: the operator token has no default outside
// dev (dev generates one), must be long enough and never an
// application's; the poll, audit bound and quality rule are checked, each
// error naming its variable.
func TestAdminAndQualitySettings(t *testing.T) {
	base := map[string]string{
		"SMSFLEET_APPLICATIONS":     "SHOP1-00001:shop-server-token-0123456789",
		"SMSFLEET_SIMULATOR_SECRET": "a-simulator-secret",
	}
	tests := []struct {
		name    string
		dev     bool
		env     map[string]string
		wantErr string
		check   func(t *testing.T, c Config)
	}{
		{name: "no token outside dev: the operator API is off", check: func(t *testing.T, c Config) {
			if c.Admin.Token != "" {
				t.Fatalf("a built-in admin token %q", c.Admin.Token)
			}
		}},
		{name: "dev generates one", dev: true, check: func(t *testing.T, c Config) {
			if !strings.HasPrefix(c.Admin.Token, "dev-admin-") || len(c.Admin.Token) < MinAdminToken {
				t.Fatalf("dev admin token %q", c.Admin.Token)
			}
		}},
		{name: "a set token is kept", env: map[string]string{"SMSFLEET_ADMIN_TOKEN": "0123456789abcdef"}, check: func(t *testing.T, c Config) {
			if c.Admin.Token != "0123456789abcdef" || c.Admin.Name != "admin" || c.Admin.Poll.String() != "1s" || c.Quality.Threshold != 0.15 {
				t.Fatalf("admin %+v quality %+v", c.Admin, c.Quality)
			}
		}},
		{name: "short token", env: map[string]string{"SMSFLEET_ADMIN_TOKEN": "short"}, wantErr: "SMSFLEET_ADMIN_TOKEN must be at least 16"},
		{name: "an application's token", env: map[string]string{"SMSFLEET_ADMIN_TOKEN": "shop-server-token-0123456789"}, wantErr: "SMSFLEET_ADMIN_TOKEN must not be an application's token"},
		{name: "bad name", env: map[string]string{"SMSFLEET_ADMIN_NAME": "on call"}, wantErr: "SMSFLEET_ADMIN_NAME"},
		{name: "poll too fast", env: map[string]string{"SMSFLEET_ADMIN_POLL": "1ms"}, wantErr: "SMSFLEET_ADMIN_POLL"},
		{name: "audit bound", env: map[string]string{"SMSFLEET_ADMIN_AUDIT_MAX": "0"}, wantErr: "SMSFLEET_ADMIN_AUDIT_MAX"},
		{name: "window", env: map[string]string{"SMSFLEET_QUALITY_WINDOW": "1s"}, wantErr: "SMSFLEET_QUALITY_WINDOW"},
		{name: "deadline", env: map[string]string{"SMSFLEET_QUALITY_DEADLINE": "0s"}, wantErr: "SMSFLEET_QUALITY_DEADLINE"},
		{name: "threshold", env: map[string]string{"SMSFLEET_QUALITY_THRESHOLD": "1"}, wantErr: "SMSFLEET_QUALITY_THRESHOLD"},
		{name: "floor", env: map[string]string{"SMSFLEET_QUALITY_FLOOR": "0"}, wantErr: "SMSFLEET_QUALITY_FLOOR"},
		{name: "min SMS", env: map[string]string{"SMSFLEET_QUALITY_MIN_SMS": "0"}, wantErr: "SMSFLEET_QUALITY_MIN_SMS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range base {
				t.Setenv(k, v)
			}
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			var c Config
			var err error
			if tt.dev {
				c, err = LoadDev()
			} else {
				c, err = Load()
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}
