package fleet

import (
	"context"
	"strings"
	"testing"

	"github.com/smsfleet/smsfleet/internal/config"
	"github.com/smsfleet/smsfleet/internal/store"
)

// TestClusterRefusal: a role on a Redis Cluster is refused exactly while
// the store's key layout is not cluster-safe; standalone and sentinel
// always run.
func TestClusterRefusal(t *testing.T) {
	tests := []struct {
		onCluster, clusterSafe, refused bool
	}{
		{onCluster: true, clusterSafe: false, refused: true},
		{onCluster: true, clusterSafe: true, refused: false},
		{onCluster: false, clusterSafe: false, refused: false},
		{onCluster: false, clusterSafe: true, refused: false},
	}
	for _, tt := range tests {
		err := clusterRefusal(tt.onCluster, tt.clusterSafe)
		if (err != nil) != tt.refused {
			t.Errorf("on cluster %v, cluster-safe %v: %v, want refused %v", tt.onCluster, tt.clusterSafe, err, tt.refused)
		}
		if err != nil && !strings.Contains(err.Error(), "SMSFLEET_REDIS_MODE=cluster") {
			t.Errorf("the refusal does not name SMSFLEET_REDIS_MODE: %v", err)
		}
	}
}

// TestNewRefusesClusterUntilClusterSafe: New with SMSFLEET_REDIS_MODE=cluster
// fails before it dials while store.ClusterSafe is false (the seed below
// does not exist: a dial would fail with another error).
func TestNewRefusesClusterUntilClusterSafe(t *testing.T) {
	cfg := config.Default()
	cfg.Redis.Mode, cfg.Redis.Addrs = config.RedisCluster, []string{"127.0.0.1:1"}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	_, err := New(context.Background(), Options{Config: cfg, Roles: Roles{API: true}})
	if err == nil {
		t.Fatal("New on a cluster seed that does not exist succeeded")
	}
	if want := "store.ClusterSafe is false"; !store.ClusterSafe && !strings.Contains(err.Error(), want) {
		t.Fatalf("New = %v, want the refusal (%q)", err, want)
	}
	t.Logf("store.ClusterSafe = %v: %v", store.ClusterSafe, err)
}
