package main

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/smsfleet/smsfleet/internal/testenv"
)

// TestMonitorCommandOnSentinel: `smsfleet monitor` with
// SMSFLEET_REDIS_MODE=sentinel serves the lanes, asynqmon's Redis page and
// the queue metrics through its failover client, and goes on serving them
// once the sentinels promoted a replica in place of a killed primary.
func TestMonitorCommandOnSentinel(t *testing.T) {
	s := testenv.NewSentinel(t, testenv.SentinelOptions{})
	t.Setenv("SMSFLEET_REDIS_MODE", "sentinel")
	t.Setenv("SMSFLEET_REDIS_ADDRS", strings.Join(s.Addrs, ","))
	t.Setenv("SMSFLEET_REDIS_MASTER_NAME", s.MasterName)
	base := startMonitorCommand(t)
	pages := []struct{ path, body string }{
		{"/readyz", "ready"},
		{"/monitoring/api/queues", `"queue":"dispatch"`},
		{"/monitoring/api/redis_info", `"redis_version"`},
		{"/metrics", `asynq_queue_size{queue="otp"} 0`},
	}
	get := func(path string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, base+path, nil)
		req.SetBasicAuth("admin", "on-call")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, p := range pages {
		if code, body := get(p.path); code != http.StatusOK || !strings.Contains(body, p.body) {
			t.Errorf("GET %s = %d %.300s, want 200 with %q", p.path, code, body, p.body)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// The lanes the monitor registered at start are on the replica before
	// the primary dies (replication is asynchronous: a kill right after a
	// write may take it along).
	if err := s.WaitReplicated(ctx); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Failover(ctx); err != nil {
		t.Fatal(err)
	}
	// The monitor's pool may hold connections to the dead primary for a
	// request or two; then every page answers from the new one.
	for _, p := range pages {
		var code int
		var body string
		for ctx.Err() == nil {
			if code, body = get(p.path); code == http.StatusOK && strings.Contains(body, p.body) {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if code != http.StatusOK || !strings.Contains(body, p.body) {
			t.Errorf("after the failover, GET %s = %d %.300s, want 200 with %q", p.path, code, body, p.body)
		}
	}
}
