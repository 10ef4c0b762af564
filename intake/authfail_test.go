package intake

import (
	"encoding/json"
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
)

// TestAuthFailuresCounted: every refused token is counted by reason and
// logged at warn with the source address, never with the token (issue
// 13, item 10).
func TestAuthFailuresCounted(t *testing.T) {
	core, logs := observer.New(zap.WarnLevel)
	a := newAPIWith(nil)
	a.Guard = authguard.New(authguard.Options{Surface: "api", Log: zap.New(core)})
	mux := http.NewServeMux()
	a.Register(mux)
	const secret = "guessed-token-0001"
	tests := []struct {
		name, path, header, body string
		status                   int
		reason                   string
	}{
		{"no token", "/json/1.3/createMessage", "", `{"request":{"application":"` + shop + `"}}`, 401, authguard.Missing},
		{"unknown token in the body", "/json/1.3/createMessage", "", `{"request":{"auth":"` + secret + `"}}`, 401, authguard.Unknown},
		{"unknown token in the header", "/json/1.3/createMessage", "Token " + secret, `{"request":{}}`, 401, authguard.Unknown},
		{"another application's token", "/json/1.3/createMessage", "", `{"request":{"application":"` + bank + `","auth":"` + shopToken + `"}}`, 403, authguard.WrongApp},
		{"device token for a server method", "/json/1.3/createMessage", "Token " + shopDev, `{"request":{}}`, 403, authguard.TooWeak},
		{"device token in the body", "/json/1.3/deleteMessage", "", `{"request":{"application":"` + shop + `","auth":"` + shopDev + `"}}`, 403, authguard.TooWeak},
		{"native without a token", "/api/v1/messages", "", "", 401, authguard.Missing},
		{"native unknown token", "/api/v1/messages", "Token " + secret, "", 401, authguard.Unknown},
		{"native device token", "/api/v1/messages", "Token " + shopDev, "", 403, authguard.TooWeak},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := testutil.ToFloat64(metrics.AuthFailures.WithLabelValues("api", tt.reason))
			lines := logs.Len()
			method := http.MethodPost
			if strings.HasPrefix(tt.path, "/api/") {
				method = http.MethodGet
			}
			req := httptest.NewRequest(method, tt.path, strings.NewReader(tt.body))
			req.RemoteAddr = "198.51.100.77:1234"
			if tt.header != "" {
				req.Header.Set("Authorization", tt.header)
			}
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, req)
			if rec.Code != tt.status {
				t.Fatalf("HTTP %d %s, want %d", rec.Code, rec.Body, tt.status)
			}
			if got := testutil.ToFloat64(metrics.AuthFailures.WithLabelValues("api", tt.reason)); got != before+1 {
				t.Fatalf("smsfleet_auth_failures_total{surface=api,reason=%s} went from %v to %v, want +1", tt.reason, before, got)
			}
			if logs.Len() != lines+1 {
				t.Fatalf("%d log lines, want 1", logs.Len()-lines)
			}
			line := logs.All()[lines]
			if line.ContextMap()["remote"] != "198.51.100.77" || line.ContextMap()["reason"] != tt.reason {
				t.Fatalf("log line %v", line.ContextMap())
			}
		})
	}
	for _, line := range logs.All() {
		for k, v := range line.ContextMap() {
			if s, ok := v.(string); ok && (strings.Contains(s, secret) || strings.Contains(s, shopToken) || strings.Contains(s, shopDev)) {
				t.Errorf("log field %s holds a token: %q", k, s)
			}
		}
	}
}

// TestAuthFailureThrottle: after SMSFLEET_AUTH_FAILURES wrong tokens from
// one address, that address gets 429 with Retry-After, even with a right
// token (so guessing cannot go on), on both APIs, until its budget
// refills on the injected clock; other addresses are served.
func TestAuthFailureThrottle(t *testing.T) {
	now := testNow
	a := newAPIWith(nil)
	a.Guard = authguard.New(authguard.Options{Surface: "api", Failures: 5, Window: time.Minute, Now: func() time.Time { return now }})
	mux := http.NewServeMux()
	a.Register(mux)
	do := func(addr, path, header string) *httptest.ResponseRecorder {
		method := http.MethodPost
		if strings.HasPrefix(path, "/api/") {
			method = http.MethodGet
		}
		req := httptest.NewRequest(method, path, strings.NewReader(`{"request":{"message":""}}`))
		req.RemoteAddr = addr
		req.Header.Set("Authorization", header)
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		return rec
	}
	const attacker, other = "203.0.113.9:5000", "203.0.113.10:5000"
	for i := range 5 {
		if rec := do(attacker, "/json/1.3/getMsgStats", "Token wrong"); rec.Code != 401 {
			t.Fatalf("failure %d: HTTP %d, want 401", i+1, rec.Code)
		}
	}
	before := testutil.ToFloat64(metrics.AuthThrottled.WithLabelValues("api"))
	for _, tc := range []struct{ path, header string }{
		{"/json/1.3/getMsgStats", "Token wrong"},
		{"/json/1.3/getMsgStats", "Token " + shopToken},
		{"/api/v1/messages", "Token " + shopToken},
	} {
		rec := do(attacker, tc.path, tc.header)
		var env map[string]any
		_ = json.Unmarshal(rec.Body.Bytes(), &env)
		if rec.Code != 429 || rec.Header().Get("Retry-After") != "12" {
			t.Fatalf("%s %s after 5 failures: HTTP %d, Retry-After %q, %s; want 429, Retry-After 12",
				tc.path, tc.header, rec.Code, rec.Header().Get("Retry-After"), rec.Body)
		}
	}
	if got := testutil.ToFloat64(metrics.AuthThrottled.WithLabelValues("api")); got != before+3 {
		t.Fatalf("smsfleet_auth_throttled_total{surface=api} +%v, want +3", got-before)
	}
	// Another address is unaffected: its right token gets past auth (to
	// the handler's own 210).
	if rec := do(other, "/json/1.3/getMsgStats", "Token "+shopToken); rec.Code != 200 {
		t.Fatalf("other address: HTTP %d %s", rec.Code, rec.Body)
	}
	now = now.Add(12 * time.Second) // one failure refilled (60 s / 5)
	if rec := do(attacker, "/json/1.3/getMsgStats", "Token "+shopToken); rec.Code != 200 {
		t.Fatalf("after the refill: HTTP %d %s", rec.Code, rec.Body)
	}
}
