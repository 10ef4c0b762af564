package config

import (
	"strings"
	"testing"

	"github.com/smsfleet/smsfleet/internal/httprole"
)

// TestHTTPDefaults: the SMSFLEET_HTTP_* defaults bound every connection,
// and the write timeout outlasts the longest request deadline.
func TestHTTPDefaults(t *testing.T) {
	d := Default()
	if l := httprole.Limits(d.HTTP); l.ReadTimeout <= 0 || l.WriteTimeout <= 0 || l.IdleTimeout <= 0 || l.MaxHeaderBytes <= 0 || l.MaxConns <= 0 {
		t.Fatalf("default limits leave something unbounded: %+v", l)
	}
	if d.HTTP.WriteTimeout <= d.requestDeadline() {
		t.Fatalf("write timeout %s does not exceed the request deadline %s", d.HTTP.WriteTimeout, d.requestDeadline())
	}
	h, err := LoadHTTP()
	if err != nil || h != d.HTTP {
		t.Fatalf("LoadHTTP in an empty environment: %+v, %v", h, err)
	}
}

func TestHTTPLimitsValidated(t *testing.T) {
	t.Setenv("SMSFLEET_APPLICATIONS", "SHOP1-00001:server-token")
	for k, v := range map[string]string{
		"SMSFLEET_HTTP_READ_TIMEOUT":     "-1s",
		"SMSFLEET_HTTP_WRITE_TIMEOUT":    "-1s",
		"SMSFLEET_HTTP_IDLE_TIMEOUT":     "-1s",
		"SMSFLEET_HTTP_MAX_HEADER_BYTES": "-1",
		"SMSFLEET_HTTP_MAX_CONNS":        "-1",
	} {
		t.Run(k, func(t *testing.T) {
			t.Setenv(k, v)
			if _, err := Load(); err == nil || !strings.Contains(err.Error(), k) {
				t.Fatalf("%s=%s: error %v, want one naming the variable", k, v, err)
			}
			if _, err := LoadHTTP(); err == nil || !strings.Contains(err.Error(), k) {
				t.Fatalf("LoadHTTP %s=%s: error %v, want one naming the variable", k, v, err)
			}
		})
	}
	t.Run("write timeout within the request deadline", func(t *testing.T) {
		t.Setenv("SMSFLEET_HTTP_WRITE_TIMEOUT", "10s") // 5s + 16 s for 16 MiB
		if _, err := Load(); err == nil || !strings.Contains(err.Error(), "SMSFLEET_HTTP_WRITE_TIMEOUT") {
			t.Fatalf("error %v, want one naming SMSFLEET_HTTP_WRITE_TIMEOUT", err)
		}
	})
	t.Run("zero is allowed", func(t *testing.T) {
		t.Setenv("SMSFLEET_HTTP_MAX_CONNS", "0")
		t.Setenv("SMSFLEET_HTTP_IDLE_TIMEOUT", "0s")
		c, err := Load()
		if err != nil || c.HTTP.MaxConns != 0 || c.HTTP.IdleTimeout != 0 {
			t.Fatalf("%+v, %v", c.HTTP, err)
		}
	})
}
