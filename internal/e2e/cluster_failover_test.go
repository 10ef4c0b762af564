package e2e_test

import (
	"context"
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

// TestClusterMasterKilledUnderLoad (issue 15): an API and a worker, each
// a fleet built by fleet.New from SMSFLEET_REDIS_MODE=cluster
// configuration, on a 3-master cluster whose masters have two replicas
// each, with SMSFLEET_REDIS_WAIT_REPLICAS=1, take single sends while one
// master is killed with SIGKILL. The cluster promotes one of its replicas
// (the promoted one keeps a replica for WAIT 1); nobody restarts
// anything. The accounting is the Sentinel test's: every accepted SMS at
// the idempotent provider once and sent, none lost or stuck, the API
// answering 503 with Retry-After during the switch, never hanging.
// SMSFLEET_E2E_CLUSTER_N sets the load (default 2,000).
//
// It FAILS today, and so runs only with SMSFLEET_E2E_CLUSTER_FAILOVER=1:
// it is the reproduction of issue 15's open cluster-failover work. The one
// run made (2,000 SMS, a master killed at +0.9 s, the cluster healthy 2.3 s
// later): the API answered 503 for 57.8 s (the fleet's cluster clients
// took that long to route the dead master's slots to its replica), the
// client gave up on 23 SMS, and 25 accepted SMS stayed queued with no
// task. The likely cause, not yet proven: their asynq tasks, on the dead
// master's shard queues, were not replicated, while the intake's removal
// of their outbox entries (dispatcher/group.go, on another master) was,
// so the outbox sweeper had nothing to repair; on one primary the
// replication stream keeps the two in order, on a cluster nothing does.
// docs/operations.md, "Redis Cluster failover (open)".
func TestClusterMasterKilledUnderLoad(t *testing.T) {
	if os.Getenv("SMSFLEET_E2E_CLUSTER_FAILOVER") != "1" {
		t.Skip("known to fail until the cluster failover work of issue 15 lands; SMSFLEET_E2E_CLUSTER_FAILOVER=1 runs it")
	}
	n := 2000
	if v := os.Getenv("SMSFLEET_E2E_CLUSTER_N"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 100 {
			t.Fatalf("SMSFLEET_E2E_CLUSTER_N=%q: want a number of at least 100", v)
		}
	}
	c := testenv.NewCluster(t, 3, 2)
	cfg := harness.TestConfig(t)
	cfg.Redis.Mode, cfg.Redis.Addrs = config.RedisCluster, c.Addrs()
	cfg.Redis.WaitReplicas, cfg.Redis.WaitTimeout = 1, time.Second
	cfg.Lanes.Shards = 6
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
	core, logs := observer.New(zap.WarnLevel)
	startFleet(t, cfg, fleet.Roles{Worker: true}, zap.New(core), provider.NewSimulator("simulator", simServer.URL+"/simulator", nil))
	apiServer.Config.Handler = api.Handler()
	apiServer.Start()
	t.Cleanup(apiServer.Close)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	masters, err := c.Masters(ctx)
	if err != nil {
		t.Fatal(err)
	}
	victim := masters[0].Addr
	load := &failoverLoad{api: apiServer.URL, clientTimeout: 10 * time.Second, retryFor: time.Minute}
	var (
		once        sync.Once
		killed      = make(chan struct{})
		killAt      time.Time
		healthyAt   time.Time
		failoverErr error
	)
	start := time.Now()
	load.run(ctx, n, 32, func(accepted int) {
		if accepted < n/3 {
			return
		}
		once.Do(func() {
			go func() {
				defer close(killed)
				if failoverErr = c.KillMaster(ctx, victim); failoverErr != nil {
					return
				}
				killAt = time.Now()
				failoverErr = c.WaitHealthy(ctx)
				healthyAt = time.Now()
			}()
		})
	})
	loadTook := time.Since(start)
	<-killed
	if failoverErr != nil {
		t.Fatal(failoverErr)
	}
	t.Logf("%d SMS sent by 32 clients in %.1f s; master %s killed at +%.1f s, the cluster healthy again %.1f s later",
		n, loadTook.Seconds(), victim, killAt.Sub(start).Seconds(), healthyAt.Sub(killAt).Seconds())

	settleStart := time.Now()
	acct := account(ctx, t, api.Store(), sim, load.accepted)
	t.Logf("failover accounting: accepted %d of %d, gave up on %d; at the provider %d accepted SMS once (%d sends it deduplicated by SMS id), lost %d, stuck %d, second SMS to an accepted phone %d; %d messages re-enqueued by the outbox sweeper; settled %.1f s after the load",
		len(load.accepted), n, load.notAccepted, acct.once, replays.Load(), acct.lost, acct.stuck, acct.duplicates,
		logs.FilterMessage("outbox: enqueued a message the intake had not").Len(), time.Since(settleStart).Seconds())
	unavailable := time.Duration(0)
	if !load.firstBad.IsZero() {
		unavailable = load.lastBad.Sub(load.firstBad)
	}
	t.Logf("during the switch: %d answers 503 with Retry-After, %d failures (%d hung); API unavailable for %.2f s (first to last 503 or failure); longest time without an acceptance %.2f s",
		load.unavailable503, load.failures, load.hung, unavailable.Seconds(), load.longestGap.Seconds())

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
