package redisx_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/smsfleet/smsfleet/internal/redisx"
	"github.com/smsfleet/smsfleet/internal/testenv"
)

// TestFollowFailoversRoutesToThePromotedReplica: a master of a cluster
// with replicas is killed; the cluster promotes a replica. A client built
// like redisx.New's, but whose periodic slot-map reload is an hour away
// (so only FollowFailovers can make it re-read the map), writes to a key
// of the dead master's slots again once the cluster is healthy. Without
// FollowFailovers the client keeps dialling the dead address and every
// write fails until the periodic reload (go-redis's default: 60 s; here
// an hour); the test's guard below is far shorter than that.
func TestFollowFailoversRoutesToThePromotedReplica(t *testing.T) {
	ctx := context.Background()
	c := testenv.NewCluster(t, 3, 1)
	cc := redis.NewClusterClient(&redis.ClusterOptions{
		Addrs: c.Addrs(), ClusterStateReloadInterval: time.Hour,
		DialTimeout: time.Second, ReadTimeout: time.Second, WriteTimeout: time.Second, MaxRetries: 1,
	})
	redisx.FollowFailovers(cc)
	t.Cleanup(func() { _ = cc.Close() })

	// A key on the master that will be killed.
	masters, err := c.Masters(ctx)
	if err != nil {
		t.Fatal(err)
	}
	victim := masters[0]
	key := ""
	for i := 0; key == ""; i++ {
		if k := "key-" + strconv.Itoa(i); victim.Owns(slotOf(ctx, t, cc, k)) {
			key = k
		}
	}
	if err := cc.Set(ctx, key, "before", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.KillMaster(ctx, victim.Addr); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitHealthy(ctx); err != nil {
		t.Fatal(err)
	}
	// The first writes after the kill may fail (that failure is what makes
	// the client re-read the map); then they must succeed on the promoted
	// replica. The guard is a hang guard, half of go-redis's default
	// reload interval, not a measurement.
	failures := 0
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := cc.Set(ctx, key, "after", 0).Err()
		if err == nil {
			break
		}
		failures++
		if time.Now().After(deadline) {
			t.Fatalf("writes to the dead master's slot still fail after %d tries: %v", failures, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	owner, err := cc.MasterForKey(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if owner.Options().Addr == victim.Addr {
		t.Fatalf("key still routed to the dead master %s", victim.Addr)
	}
	t.Logf("writes failed %d times before the client routed %s to %s", failures, key, owner.Options().Addr)
}

// slotOf asks the cluster for key's slot.
func slotOf(ctx context.Context, t *testing.T, cc *redis.ClusterClient, key string) int {
	t.Helper()
	n, err := cc.ClusterKeySlot(ctx, key).Result()
	if err != nil {
		t.Fatal(err)
	}
	return int(n)
}
