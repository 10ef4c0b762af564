package testenv

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Keys with different hash tags, written through a cluster client, land
// on all three masters: each master holds keys (DBSIZE), exactly the keys
// of the slots it serves (CLUSTER COUNTKEYSINSLOT), and none twice.
func TestClusterSpreadsKeysOverThreeMasters(t *testing.T) {
	c := NewCluster(t, 3, 0)
	ctx := context.Background()
	cc := c.Client(t)
	const keys = 300
	perSlot := map[int]int{}
	for i := range keys {
		k := fmt.Sprintf("{tag%d}:k", i)
		if err := cc.Set(ctx, k, i, 0).Err(); err != nil {
			t.Fatal(err)
		}
		perSlot[int(slotOf(t, cc, k))]++
	}
	masters, err := c.Masters(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(masters) != 3 {
		t.Fatalf("%d masters, want 3: %+v", len(masters), masters)
	}
	total := int64(0)
	for _, m := range masters {
		rdb := NodeClient(m.Addr)
		n, err := rdb.DBSize(ctx).Result()
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			t.Errorf("master %s (slots %v) holds no key", m.Addr, m.Slots)
		}
		want := int64(0)
		for slot, k := range perSlot {
			if !m.Owns(slot) {
				continue
			}
			want += int64(k)
			got, err := rdb.ClusterCountKeysInSlot(ctx, slot).Result()
			if err != nil || got != int64(k) {
				t.Errorf("master %s: slot %d holds %d keys (%v), want %d", m.Addr, slot, got, err, k)
			}
		}
		if n != want {
			t.Errorf("master %s holds %d keys, want %d (its slots' keys)", m.Addr, n, want)
		}
		total += n
		_ = rdb.Close()
	}
	if total != keys {
		t.Fatalf("the masters hold %d keys in all, want %d", total, keys)
	}
}

// A master killed with SIGKILL is replaced by its replica: the cluster
// heals by itself, the replica serves the master's slots, and the keys
// the master had acknowledged to its replica are still there.
func TestClusterReplicaTakesOverAKilledMaster(t *testing.T) {
	c := NewCluster(t, 3, 1)
	ctx := context.Background()
	if got := len(c.Addrs()); got != 6 {
		t.Fatalf("%d nodes, want 6", got)
	}
	cc := c.Client(t)
	const key = "{victim}:k"
	if err := cc.Set(ctx, key, "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	slot := int(slotOf(t, cc, key))
	victim, err := c.MasterOf(ctx, slot)
	if err != nil {
		t.Fatal(err)
	}
	replicas, err := c.ReplicasOf(ctx, victim)
	if err != nil || len(replicas) != 1 {
		t.Fatalf("replicas of %s: %v %v, want one", victim, replicas, err)
	}
	// The write is on the replica before the kill (WAIT), so the failover
	// may not lose it.
	direct := NodeClient(victim)
	if n, err := direct.Wait(ctx, 1, 5*time.Second).Result(); err != nil || n != 1 {
		t.Fatalf("WAIT 1 on %s: %d %v", victim, n, err)
	}
	_ = direct.Close()

	t0 := time.Now()
	if err := c.KillMaster(ctx, victim); err != nil {
		t.Fatal(err)
	}
	if err := c.KillMaster(ctx, victim); err == nil {
		t.Fatal("killed a dead master twice")
	}
	wctx, cancel := context.WithTimeout(ctx, clusterWait)
	defer cancel()
	if err := c.WaitHealthy(wctx); err != nil {
		t.Fatalf("the cluster did not heal: %v", err)
	}
	t.Logf("the cluster healed %s after the kill (node timeout %s)", time.Since(t0), clusterNodeTimeout)
	now, err := c.MasterOf(ctx, slot)
	if err != nil || now != replicas[0] {
		t.Fatalf("slot %d is served by %s (%v), want %s, the killed master's replica", slot, now, err, replicas[0])
	}
	if slices.Contains(c.Addrs(), victim) {
		t.Fatalf("the killed master %s is still listed", victim)
	}
	// A client seeded before the kill finds the key on the new master once
	// it reloads its slot map. go-redis does not reload on a refused dial
	// to the dead master, only on MOVED/READONLY or when the map is older
	// than ClusterStateReloadInterval (10 s by default), so ask for it.
	cc.ReloadState(ctx)
	for {
		got, err := cc.Get(wctx, key).Result()
		if err == nil && got == "v" {
			break
		}
		if wctx.Err() != nil {
			t.Fatalf("GET %s after the failover: %q %v", key, got, err)
		}
	}
}

func TestStartClusterRefusesTooFewMasters(t *testing.T) {
	if _, err := StartCluster(2, 0); err == nil {
		t.Fatal("started a cluster of 2 masters")
	}
}

func slotOf(t *testing.T, cc *redis.ClusterClient, key string) int64 {
	t.Helper()
	s, err := cc.ClusterKeySlot(context.Background(), key).Result()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Without the binaries StartCluster says which is missing, with the error
// NewCluster tells apart (skip locally, fail under CI=true).
func TestStartClusterNamesAMissingBinary(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, err := StartCluster(3, 0)
	if !errors.Is(err, ErrMissingBinary) || !strings.Contains(err.Error(), "redis-server") {
		t.Fatalf("error %v, want ErrMissingBinary naming redis-server", err)
	}
}
