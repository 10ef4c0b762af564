package config

import (
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
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
		// The intake's body bounds and the failure budget (issue 13,
		// items 2 and 10).
		"SMSFLEET_UNAUTHENTICATED_BODY_BYTES": "100",
		"SMSFLEET_MAX_BODY_BYTES_IN_FLIGHT":   "1048576",
		"SMSFLEET_AUTH_FAILURES":              "-1",
		"SMSFLEET_AUTH_FAILURE_WINDOW":        "0s",
		// asynq would poll every second instead (issue 14).
		"SMSFLEET_WORKER_OTP_CHECK_INTERVAL":  "0s",
		"SMSFLEET_WORKER_TASK_CHECK_INTERVAL": "-1ms",
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

// TestDefault: Default is what an empty environment loads, every
// documented default is in it, and it validates as it is.
func TestDefault(t *testing.T) {
	d := Default()
	if d.HTTPAddr != "127.0.0.1:8080" || d.ShutdownGrace != 25*time.Second || d.Callback.MaxAttempts != 12 || d.Callback.Timeout != 10*time.Second ||
		d.Receipts.Group != "smsfleet-receipts" || d.Receipts.ParkTTL != time.Hour || d.Breaker.OpenTimeout != 10*time.Second ||
		d.Rate.Waiters != 8 || d.Worker.OutboxInterval != 15*time.Second || len(d.Inbound.StopWords) != 8 || d.Monitor.Auth != "basic" {
		t.Fatalf("defaults: %+v", d)
	}
	if err := d.Validate(); err != nil {
		t.Fatalf("the defaults do not validate: %v", err)
	}
	for _, k := range os.Environ() {
		if name, _, _ := strings.Cut(k, "="); strings.HasPrefix(name, envPrefix) {
			t.Setenv(name, "")
			_ = os.Unsetenv(name)
		}
	}
	loaded, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	// Compared as printed: parsing leaves empty maps and slices where
	// Default has nil ones, which mean the same.
	loaded.policies, d.policies = nil, nil
	if fmt.Sprintf("%+v", loaded) != fmt.Sprintf("%+v", d) {
		t.Fatalf("Load with an empty environment:\n%+v\nDefault:\n%+v", loaded, d)
	}
}

// TestEmptyStopWordsRejected: with no stop words a STOP would go unheard;
// a configuration built without Default must not pass for one that works.
func TestEmptyStopWordsRejected(t *testing.T) {
	c := Default()
	c.Inbound.StopWords = nil
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "SMSFLEET_INBOUND_STOP_WORDS") {
		t.Fatalf("Validate = %v", err)
	}
}
