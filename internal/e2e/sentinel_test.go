package e2e_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/smsfleet/smsfleet/internal/config"
	"github.com/smsfleet/smsfleet/internal/e2e/harness"
	"github.com/smsfleet/smsfleet/internal/fleet"
	"github.com/smsfleet/smsfleet/internal/provider"
	"github.com/smsfleet/smsfleet/internal/simulator"
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
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}

	sim := simulator.New("simulator", 0)
	var replays atomic.Int64
	simServer := httptest.NewServer(countReplays(sim.Handler(), &replays))
	t.Cleanup(simServer.Close)
	apiServer := httptest.NewUnstartedServer(nil)
	cfg.PublicURL = "http://" + apiServer.Listener.Addr().String()
	api := startFleet(t, cfg, fleet.Roles{API: true}, nil)
	// The worker's warnings are kept to count the messages its outbox
	// sweeper had to enqueue again.
	core, logs := observer.New(zap.WarnLevel)
	startFleet(t, cfg, fleet.Roles{Worker: true}, zap.New(core), provider.NewSimulator("simulator", simServer.URL+"/simulator", nil))
	apiServer.Config.Handler = api.Handler()
	apiServer.Start()
	t.Cleanup(apiServer.Close)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	load := &failoverLoad{api: apiServer.URL, clientTimeout: 10 * time.Second, retryFor: time.Minute}
	var (
		once                   sync.Once
		killed                 = make(chan struct{})
		killAt, promotedAt     time.Time
		oldPrimary, newPrimary string
		failoverErr            error
	)
	start := time.Now()
	load.run(ctx, n, 32, func(accepted int) {
		if accepted < n/3 {
			return
		}
		once.Do(func() {
			go func() {
				defer close(killed)
				if oldPrimary, failoverErr = s.KillPrimary(ctx); failoverErr != nil {
					return
				}
				killAt = time.Now() // the process is gone (reaped)
				newPrimary, failoverErr = s.WaitNewPrimary(ctx, oldPrimary)
				promotedAt = time.Now()
			}()
		})
	})
	loadTook := time.Since(start)
	<-killed
	if failoverErr != nil {
		t.Fatal(failoverErr)
	}
	t.Logf("%d SMS sent by 32 clients in %.1f s; primary %s killed at +%.1f s, a sentinel named %s the primary %.1f s later",
		n, loadTook.Seconds(), oldPrimary, killAt.Sub(start).Seconds(), newPrimary, promotedAt.Sub(killAt).Seconds())

	settleStart := time.Now()
	acct := account(ctx, t, api.Store(), sim, load.accepted)
	t.Logf("failover accounting: accepted %d of %d, gave up on %d; at the provider %d accepted SMS once (%d sends it deduplicated by SMS id), lost %d, stuck %d, second SMS to an accepted phone %d; %d messages re-enqueued by the outbox sweeper; settled %.1f s after the load",
		len(load.accepted), n, load.notAccepted, acct.once, replays.Load(), acct.lost, acct.stuck, acct.duplicates,
		logs.FilterMessage("outbox: enqueued a message the intake had not").Len(), time.Since(settleStart).Seconds())
	unavailable := time.Duration(0)
	if !load.firstBad.IsZero() {
		unavailable = load.lastBad.Sub(load.firstBad)
	}
	t.Logf("during the switch: %d answers 503 with Retry-After, %d failures (%d hung); API unavailable for %.2f s (first to last 503 or failure), from +%.2f s after the kill; longest time without an acceptance %.2f s, ending +%.2f s after the kill",
		load.unavailable503, load.failures, load.hung, unavailable.Seconds(), load.firstBad.Sub(killAt).Seconds(),
		load.longestGap.Seconds(), load.gapEnd.Sub(killAt).Seconds())

	if load.failures != 0 {
		t.Errorf("%d requests failed other than 503 with Retry-After (%d hung); first: %q", load.failures, load.hung, load.failureExamples)
	}
	if load.notAccepted != 0 || len(load.accepted) != n {
		t.Errorf("accepted %d of %d; the client gave up on %d", len(load.accepted), n, load.notAccepted)
	}
	if acct.lost != 0 || acct.stuck != 0 || acct.duplicates != 0 || acct.once != len(load.accepted) {
		t.Errorf("accounting: %+v for %d accepted", acct, len(load.accepted))
	}
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
