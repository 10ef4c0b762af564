package harness

import (
	"context"
	"testing"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/smsfleet/smsfleet/internal/config"
	"github.com/smsfleet/smsfleet/internal/fleet"
	"github.com/smsfleet/smsfleet/internal/testenv"
)

// NewOnCluster starts a fleet (API and worker, as New) on a fresh
// 3-master Redis Cluster (internal/testenv): the store in the tagged key
// layout with the cluster default of partitions, asynq on the cluster
// client. What the fleet logs at warn level and above is in Env.Logs.
func NewOnCluster(t testing.TB, mutate ...func(*config.Config, *fleet.Roles)) *Env {
	t.Helper()
	c := testenv.NewCluster(t, 3, 0)
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs(), PoolSize: 64})
	t.Cleanup(func() { _ = rdb.Close() })
	core, logs := observer.New(zap.WarnLevel)
	e := newEnv(t, rdb, zap.New(core), mutate...)
	e.Cluster, e.Logs = c, logs
	return e
}

// KeysPerMaster is how many keys each master of the fleet's cluster
// holds, by address.
func (e *Env) KeysPerMaster(t testing.TB) map[string]int64 {
	t.Helper()
	ctx := context.Background()
	masters, err := e.Cluster.Masters(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, m := range masters {
		rdb := testenv.NodeClient(m.Addr)
		n, err := rdb.DBSize(ctx).Result()
		_ = rdb.Close()
		if err != nil {
			t.Fatal(err)
		}
		out[m.Addr] = n
	}
	return out
}
