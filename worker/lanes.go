package worker

import (
	"fmt"
	"slices"

	"github.com/hibiken/asynq"

	"github.com/smsfleet/smsfleet/internal/sms"
)

// Lanes maps each lane (sms.Lanes) to the asynq queues its server in a
// worker process serves.
type Lanes map[string][]string

// ShardedLanes are the lanes as shards makes them: each lane's shards
// (sms.Shards.Queues), nothing else.
func ShardedLanes(shards sms.Shards) Lanes {
	out := make(Lanes, len(sms.Lanes))
	for _, lane := range sms.Lanes {
		out[lane] = shards.Queues(lane)
	}
	return out
}

// LaneQueues are the lanes as shards makes them plus every other queue of
// a lane that asynq's queue set holds: the queues of an earlier
// SMSFLEET_LANE_SHARDS (say "transactional" after a move from 1 to 4
// shards, or "otp.7" after one from 8 to 4). Their tasks (a dispatch
// scheduled hours ahead, a retry, a backlog) were enqueued there and stay
// there, so the workers keep serving those queues until an operator
// deletes them, empty, in the monitor (docs/operations.md, "Changing the
// shard count"). Queues that are no lane's (callbacks) are left out.
func LaneQueues(insp *asynq.Inspector, shards sms.Shards) (Lanes, error) {
	known, err := insp.Queues()
	if err != nil {
		return nil, fmt.Errorf("worker: list asynq's queues: %w", err)
	}
	out := ShardedLanes(shards)
	slices.Sort(known)
	for _, q := range known {
		lane := sms.LaneOf(q)
		if qs, ok := out[lane]; ok && !slices.Contains(qs, q) {
			out[lane] = append(qs, q)
		}
	}
	return out, nil
}

// Queues are every queue of every lane, lane by lane in sms.Lanes order.
func (l Lanes) Queues() []string {
	var out []string
	for _, lane := range sms.Lanes {
		out = append(out, l[lane]...)
	}
	return out
}
