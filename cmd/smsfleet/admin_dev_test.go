package main

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestDevPrintsAnAdminTokenThatWorks: `smsfleet dev` generates an admin
// token, prints it in its banner, and the operator API (on dev's embedded
// Redis) drains sim-a with it, audited; without it the API refuses.
func TestDevPrintsAnAdminTokenThatWorks(t *testing.T) {
	t.Setenv("SMSFLEET_HTTP_ADDR", "127.0.0.1:0")
	t.Setenv("SMSFLEET_DEV_KAFKA_ADDR", "127.0.0.1:0")
	t.Setenv("SMSFLEET_LOG_LEVEL", "warn")
	ctx, cancel := context.WithCancel(context.Background())
	var out syncBuffer
	done := make(chan error, 1)
	go func() { done <- runDev(ctx, &out) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(time.Minute):
			t.Error("dev did not stop within a minute")
		}
	})
	re := regexp.MustCompile(`API\s+http://(\S+)/json/1.3(?s:.*)admin token\s+(\S+)`)
	var m []string
	for deadline := time.Now().Add(time.Minute); m == nil; time.Sleep(20 * time.Millisecond) {
		m = re.FindStringSubmatch(out.String())
		if m == nil && time.Now().After(deadline) {
			t.Fatalf("no banner with an admin token: %s", out.String())
		}
	}
	base, token := "http://"+m[1], m[2]
	call := func(method, path, auth, body string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var v map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&v)
		return resp.StatusCode, v
	}
	if st, _ := call("POST", "/api/v1/admin/providers/sim-a", "Token dev-token", `{"drained":true}`); st != http.StatusUnauthorized {
		t.Fatalf("the application's token: HTTP %d", st)
	}
	if st, v := call("POST", "/api/v1/admin/providers/sim-a", "Bearer "+token, `{"drained":true}`); st != http.StatusOK || v["version"] != float64(1) {
		t.Fatalf("drain: HTTP %d %v", st, v)
	}
	st, v := call("GET", "/api/v1/admin/audit", "Bearer "+token, "")
	entries, _ := v["entries"].([]any)
	if st != http.StatusOK || len(entries) != 1 || entries[0].(map[string]any)["what"] != "provider sim-a" {
		t.Fatalf("audit: HTTP %d %v", st, v)
	}
}
