package config

import (
	"os"
	"reflect"
	"strings"
	"testing"
)

func TestApplicationsParse(t *testing.T) {
	tests := []struct {
		in      string
		want    Applications
		wantErr string
	}{
		{"", nil, ""},
		{"SHOP1-00001:server-token", Applications{{Code: "SHOP1-00001", ServerToken: "server-token"}}, ""},
		{"SHOP1-00001:server-token:device-token,BANK1-00002:bank-token-1::open", Applications{
			{Code: "SHOP1-00001", ServerToken: "server-token", DeviceToken: "device-token"},
			{Code: "BANK1-00002", ServerToken: "bank-token-1", OpenDevices: true},
		}, ""},
		{"SHOP1:server-token", nil, "must look like XXXXX-XXXXX"},
		{"SHOP1-00001", nil, "want CODE:SERVER_TOKEN"},
		{"SHOP1-00001:short", nil, "at least 8"},
		{"SHOP1-00001:server-token,SHOP1-00001:other-token", nil, "listed twice"},
		{"SHOP1-00001:server-token,BANK1-00002:server-token", nil, "unique"},
		{"SHOP1-00001:server-token:server-token", nil, "must differ"},
		{"SHOP1-00001:server-token::closed", nil, `"open"`},
	}
	for _, tt := range tests {
		var a Applications
		err := a.UnmarshalText([]byte(tt.in))
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%q: error %v, want one containing %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || len(a) != len(tt.want) {
			t.Errorf("%q: %v %+v", tt.in, err, a)
			continue
		}
		for i := range a {
			if a[i] != tt.want[i] {
				t.Errorf("%q: app %d = %+v, want %+v", tt.in, i, a[i], tt.want[i])
			}
		}
	}
}

func TestLoadDefaultsAndErrors(t *testing.T) {
	t.Setenv("SMSFLEET_APPLICATIONS", "SHOP1-00001:server-token")
	c, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTPAddr != "127.0.0.1:8080" || c.Redis.Addr != "127.0.0.1:6379" || c.DevApplication != "DEMO0-00000" || c.DevAuth != "dev-token" || len(c.Applications) != 1 {
		t.Fatalf("defaults: %+v", c)
	}
	bad := map[string]string{
		"SMSFLEET_WORKER_CONCURRENCY": "0",
		"SMSFLEET_MAX_RECIPIENTS":     "-1",
		"SMSFLEET_LOG_FORMAT":         "xml",
		"SMSFLEET_RETENTION":          "5m",
		"SMSFLEET_REDIS_DB":           "one",
	}
	for k, v := range bad {
		t.Run(k, func(t *testing.T) {
			t.Setenv(k, v)
			if _, err := Load(); err == nil || !strings.Contains(err.Error(), strings.TrimPrefix(k, "SMSFLEET_")) {
				t.Fatalf("%s=%s: error %v, want one naming the variable", k, v, err)
			}
		})
	}
}

// TestEveryVariableIsDocumented keeps the README's configuration table
// complete: each SMSFLEET_* variable must appear in it.
func TestEveryVariableIsDocumented(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string][]string{}
	collectVars(reflect.TypeOf(Config{}), envPrefix, vars)
	if len(vars) < 20 {
		t.Fatalf("found only %d variables; collectVars is broken", len(vars))
	}
	for _, names := range vars {
		for _, v := range names {
			if !strings.Contains(string(readme), "| `"+v+"` |") {
				t.Errorf("%s is not in the README's configuration table", v)
			}
		}
	}
}
