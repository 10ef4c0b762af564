package fleet

import (
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/smsfleet/smsfleet/internal/config"
	"github.com/smsfleet/smsfleet/internal/store"
)

// checkClusterSafe refuses to run the store on a Redis Cluster while its
// key layout is not cluster-safe (store.ClusterSafe): every role that
// New builds writes through the store's scripts, which Cluster would
// answer with CROSSSLOT at the first SMS. Failing at start names the
// setting instead. The client counts as well as the configuration: a
// caller may hand New a cluster client of its own.
func checkClusterSafe(cfg config.Redis, rdb redis.UniversalClient) error {
	_, clusterClient := rdb.(*redis.ClusterClient)
	return clusterRefusal(cfg.ModeOrDefault() == config.RedisCluster || clusterClient, store.ClusterSafe)
}

// clusterRefusal is checkClusterSafe's decision, apart so that both values
// of store.ClusterSafe are tested.
func clusterRefusal(onCluster, clusterSafe bool) error {
	if onCluster && !clusterSafe {
		return fmt.Errorf("config: SMSFLEET_REDIS_MODE=cluster: the store's key layout is not cluster-safe yet (store.ClusterSafe is false): its scripts touch keys in several hash slots, which Redis Cluster refuses; run standalone or sentinel (the monitor alone may run on a cluster)")
	}
	return nil
}
