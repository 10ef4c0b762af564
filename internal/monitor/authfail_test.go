package monitor_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/smsfleet/smsfleet/internal/authguard"
	"github.com/smsfleet/smsfleet/internal/metrics"
	"github.com/smsfleet/smsfleet/internal/monitor"
	"github.com/smsfleet/smsfleet/internal/testenv"
)

// TestWrongPasswordsCountedAndThrottled: wrong monitor passwords are
// counted, logged without the password, and after the budget the source
// gets 429 with Retry-After on the UI and the metrics alike, even with the
// right password, until the injected clock refills it (issue 13, item 10).
func TestWrongPasswordsCountedAndThrottled(t *testing.T) {
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	core, logs := observer.New(zap.WarnLevel)
	guard := authguard.New(authguard.Options{Surface: "monitor", Failures: 3, Window: 3 * time.Minute,
		Now: func() time.Time { return now }, Log: zap.New(core)})
	m, err := monitor.New(context.Background(), monitor.Options{Config: basic("s3cret", true), Redis: testenv.NewRedis(t).Client(t), Guard: guard})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/monitoring/", m.Handler())
	mux.Handle("/monitoring/metrics", m.MetricsHandler())
	get := func(path, addr string, set func(*http.Request)) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		req.RemoteAddr = addr
		if set != nil {
			set(req)
		}
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		return rec
	}
	wrong := func() float64 {
		return testutil.ToFloat64(metrics.AuthFailures.WithLabelValues("monitor", authguard.WrongPassword))
	}
	missing := func() float64 {
		return testutil.ToFloat64(metrics.AuthFailures.WithLabelValues("monitor", authguard.Missing))
	}
	w0, m0 := wrong(), missing()
	const attacker = "192.0.2.50:1000"
	// A browser's first request carries no credentials: counted, not charged.
	for range 5 {
		if rec := get("/monitoring/", attacker, nil); rec.Code != http.StatusUnauthorized {
			t.Fatalf("no credentials: %d", rec.Code)
		}
	}
	for _, path := range []string{"/monitoring/", "/monitoring/api/queues", "/monitoring/metrics"} {
		if rec := get(path, attacker, creds("admin", "hunter2")); rec.Code != http.StatusUnauthorized {
			t.Fatalf("wrong password on %s: %d", path, rec.Code)
		}
	}
	if wrong()-w0 != 3 || missing()-m0 != 5 {
		t.Fatalf("counted %v wrong passwords and %v missing, want 3 and 5", wrong()-w0, missing()-m0)
	}
	for _, path := range []string{"/monitoring/api/queues", "/monitoring/metrics"} {
		rec := get(path, attacker, creds("admin", "s3cret"))
		if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") != "60" {
			t.Fatalf("%s after 3 wrong passwords: %d, Retry-After %q; want 429, 60", path, rec.Code, rec.Header().Get("Retry-After"))
		}
	}
	if rec := get("/monitoring/api/queues", "192.0.2.51:1000", creds("admin", "s3cret")); rec.Code != http.StatusOK {
		t.Fatalf("another address: %d", rec.Code)
	}
	now = now.Add(time.Minute)
	if rec := get("/monitoring/metrics", attacker, creds("admin", "s3cret")); rec.Code != http.StatusOK {
		t.Fatalf("after the refill: %d", rec.Code)
	}
	for _, line := range logs.All() {
		for k, v := range line.ContextMap() {
			if s, ok := v.(string); ok && (strings.Contains(s, "hunter2") || strings.Contains(s, "s3cret")) {
				t.Errorf("log field %s holds a password: %q", k, s)
			}
		}
		if line.ContextMap()["remote"] != "192.0.2.50" || line.ContextMap()["surface"] != "monitor" {
			t.Errorf("log line %v", line.ContextMap())
		}
	}
	if logs.Len() != 8 {
		t.Errorf("%d log lines, want 8", logs.Len())
	}
}
