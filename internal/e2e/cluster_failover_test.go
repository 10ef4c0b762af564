package e2e_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/smsfleet/smsfleet/internal/config"
	"github.com/smsfleet/smsfleet/internal/e2e/harness"
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
	runFailover(t, cfg, n, func(ctx context.Context) (time.Time, string, error) {
		masters, err := c.Masters(ctx)
		if err != nil {
			return time.Time{}, "", err
		}
		victim := masters[0].Addr
		if err := c.KillMaster(ctx, victim); err != nil {
			return time.Time{}, "", err
		}
		killAt := time.Now()
		err = c.WaitHealthy(ctx)
		return killAt, fmt.Sprintf("master %s killed, the cluster healthy again %.1f s later", victim, time.Since(killAt).Seconds()), err
	})
}
