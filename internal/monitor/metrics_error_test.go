package monitor_test

import (
	"net/http"
	"strings"
	"testing"
)

// TestMetricsFailWhenQueuesCannotBeRead: when the monitor cannot read the
// queues from Redis its scrape fails (500), so the target shows as down
// (SmsfleetTargetDown) instead of the lanes silently vanishing from the
// queue metrics.
func TestMetricsFailWhenQueuesCannotBeRead(t *testing.T) {
	srv, rdb, _ := newMonitor(t, basic("pw", true))
	if resp, body := do(t, http.MethodGet, srv.URL+"/metrics", creds("admin", "pw")); resp.StatusCode != http.StatusOK {
		t.Fatalf("metrics with Redis up: %d %s", resp.StatusCode, body)
	}
	_ = rdb.Close()
	resp, body := do(t, http.MethodGet, srv.URL+"/metrics", creds("admin", "pw"))
	if resp.StatusCode != http.StatusInternalServerError || !strings.Contains(body, "asynq queues") {
		t.Fatalf("metrics with Redis unreadable: %d %s", resp.StatusCode, body)
	}
}
