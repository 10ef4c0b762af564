package config

import (
	"fmt"

	"github.com/smsfleet/smsfleet/internal/sms"
)

// Lanes is how the lanes map onto asynq queues (SMSFLEET_LANE_*).
type Lanes struct {
	// Shards splits every lane (otp, transactional, marketing, dispatch)
	// into this many asynq queues, lane.0 … lane.N-1, so a lane spreads
	// over the masters of a Redis Cluster (asynq keeps one queue in one
	// hash slot). 1 keeps each lane one queue named after it. Every role
	// of a fleet must use the same value: a task's queue is chosen from it.
	Shards int `env:"SHARDS" envDefault:"1"`
}

// validate checks the shard count against sms.MaxShards.
func (l Lanes) validate() error {
	if l.Shards < 1 || l.Shards > sms.MaxShards {
		return fmt.Errorf("config: SMSFLEET_LANE_SHARDS must be 1 to %d, got %d", sms.MaxShards, l.Shards)
	}
	return nil
}

// LaneShards is the shard count as the lanes' own type.
func (c Config) LaneShards() sms.Shards { return sms.Shards(c.Lanes.Shards) }
