package e2e_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/smsfleet/smsfleet/internal/config"
	"github.com/smsfleet/smsfleet/internal/e2e/harness"
	"github.com/smsfleet/smsfleet/internal/fleet"
	"github.com/smsfleet/smsfleet/internal/provider"
	"github.com/smsfleet/smsfleet/internal/testenv"
)

// sentinelLoadN is the SMS the failover test sends by default: enough for
// the kill to land mid-load, small enough for CI on a busy machine.
// SMSFLEET_E2E_SENTINEL_N=20000 runs the full load.
const sentinelLoadN = 3000

// outboxInterval is SMSFLEET_WORKER_OUTBOX_INTERVAL in the failover test.
const outboxInterval = 5 * time.Second

// TestSentinelFailoverUnderLoad: an API and a worker, each a fleet built
// by fleet.New from SMSFLEET_REDIS_MODE=sentinel configuration (their own
// failover clients, as separate pods), with SMSFLEET_REDIS_WAIT_REPLICAS=1,
// take single sends while the Redis primary is killed with SIGKILL. The
// sentinels promote a replica; nobody restarts anything. Then:
//
//   - every SMS whose createMessage was answered 200 reached the provider
//     (idempotent: it dedupes by the SMS id) once, under one SMS id, and
//     is sent; none lost, none stuck;
//   - what the API answered during the switch was 503 with Retry-After,
//     never a hang (every request has a client timeout), a 500 or a
//     dropped connection; each such SMS was accepted on a retry with its
//     transactionId;
//   - the log says how long the API was unavailable (first to last 503).
func TestSentinelFailoverUnderLoad(t *testing.T) {
	harness.StandaloneOnly(t, "starts its own Sentinel group")
	n := sentinelLoadN
	if v := os.Getenv("SMSFLEET_E2E_SENTINEL_N"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 100 {
			t.Fatalf("SMSFLEET_E2E_SENTINEL_N=%q: want a number of at least 100", v)
		}
	}
	// Two replicas: once the primary is gone, the promoted one still has a
	// replica to acknowledge WAIT 1 (with one, no write is durable until
	// the lost node is back).
	s := testenv.NewSentinel(t, testenv.SentinelOptions{Replicas: 2})
	cfg := harness.TestConfig(t)
	cfg.Redis.Mode, cfg.Redis.Addrs, cfg.Redis.MasterName = config.RedisSentinel, s.Addrs, s.MasterName
	cfg.Redis.WaitReplicas, cfg.Redis.WaitTimeout = 1, time.Second
	// The enqueue that follows an accepted write is not WAITed for: a task
	// the old primary took but had not passed on is lost with it, and the
	// outbox sweeper re-enqueues its message (the suite's default, an
	// hour, would leave it; production's is 15 s).
	cfg.Worker.OutboxInterval = outboxInterval
	runFailover(t, cfg, n, func(ctx context.Context) (time.Time, string, error) {
		old, err := s.KillPrimary(ctx)
		if err != nil {
			return time.Time{}, "", err
		}
		killAt := time.Now() // the process is gone (reaped)
		promoted, err := s.WaitNewPrimary(ctx, old)
		return killAt, fmt.Sprintf("primary %s killed, a sentinel named %s the primary %.1f s later", old, promoted, time.Since(killAt).Seconds()), err
	})
}

// startFleet builds a fleet of roles from cfg as production does (its
// Redis client from cfg.Redis) and starts it; it stops at cleanup.
func startFleet(t *testing.T, cfg config.Config, roles fleet.Roles, log *zap.Logger, provs ...provider.Provider) *fleet.Fleet {
	t.Helper()
	f, err := fleet.New(context.Background(), fleet.Options{Config: cfg, Roles: roles, Log: log, Providers: provs})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		f.Shutdown(ctx)
	})
	return f
}

// countReplays counts the sends the simulator answered as a replay of an
// idempotency key it had accepted already.
func countReplays(h http.Handler, n *atomic.Int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r)
		if w.Header().Get("Idempotent-Replayed") == "true" {
			n.Add(1)
		}
	})
}
