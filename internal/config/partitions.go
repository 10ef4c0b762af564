package config

import "fmt"

// MaxRedisPartitions bounds SMSFLEET_REDIS_PARTITIONS (the store's
// store.MaxPartitions: each partition's hash tag covers at least 16 of
// Redis Cluster's 16384 slots).
const MaxRedisPartitions = 1024

// clusterPartitions is the partition count of a Redis Cluster when
// SMSFLEET_REDIS_PARTITIONS is unset: enough to spread the fleet-wide
// structures over a few masters, each partition a slot range of its own.
const clusterPartitions = 16

// validatePartitions checks SMSFLEET_REDIS_PARTITIONS.
func (c Config) validatePartitions() error {
	if c.RedisPartitions < 0 || c.RedisPartitions > MaxRedisPartitions {
		return fmt.Errorf("config: SMSFLEET_REDIS_PARTITIONS must be from 1 to %d (or unset: 1, 16 on a Redis Cluster), got %d", MaxRedisPartitions, c.RedisPartitions)
	}
	return nil
}

// Partitions is how many partitions the store uses: SMSFLEET_REDIS_PARTITIONS,
// or by default 1 (standalone, Sentinel) or 16 (cluster: the fleet runs on
// a Redis Cluster).
func (c Config) Partitions(cluster bool) int {
	switch {
	case c.RedisPartitions > 0:
		return c.RedisPartitions
	case cluster:
		return clusterPartitions
	}
	return 1
}
