package sms

import (
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
)

// Type is the kind of message a request declares (the `message_type`
// extension); it picks the lane so security codes never wait behind a
// campaign (docs/decisions.md#2).
type Type string

const (
	OTP           Type = "otp"
	Transactional Type = "transactional"
	Marketing     Type = "marketing"
)

// DispatchLane carries fan-out tasks; the lanes named after a Type carry
// sends.
const DispatchLane = "dispatch"

// ParseType validates a message_type; empty means transactional.
func ParseType(s string) (Type, error) {
	switch Type(s) {
	case "":
		return Transactional, nil
	case OTP, Transactional, Marketing:
		return Type(s), nil
	}
	return "", fmt.Errorf("must be one of otp, transactional, marketing, got %q", s)
}

// Lane is the lane that carries sends of this type: a name, not an asynq
// queue (Shards.Queue gives the queue). Metrics and logs label by it.
func (t Type) Lane() string { return string(t) }

// Lanes are every lane a worker serves, OTP first.
var Lanes = []string{string(OTP), string(Transactional), string(Marketing), DispatchLane}

// MaxShards bounds SMSFLEET_LANE_SHARDS: each shard of each lane is polled
// by every worker's lane server, so an idle lane costs one empty dequeue
// per shard per poll.
const MaxShards = 256

// Shards is how many asynq queues each lane is split into
// (SMSFLEET_LANE_SHARDS). asynq keeps all of a queue's keys in one hash
// slot (asynq:{queue}:…), so one queue lives on one Redis Cluster master;
// a lane of N queues spreads over up to N masters. One shard (and the zero
// value, so a struct built without it behaves as before) keeps the lane's
// own name as its one queue: a standalone Redis looks as it always did.
type Shards int

// Count is how many queues a lane has: at least one.
func (n Shards) Count() int { return max(int(n), 1) }

// Queue is the queue of lane that carries the task with id taskID. It is a
// pure function of the id (FNV-1a modulo the count), so the same SMS, the
// same dispatch and the same batch always land on the same queue, and
// asynq's task-id uniqueness, which holds per queue, still means one task
// per id fleet-wide.
func (n Shards) Queue(lane, taskID string) string {
	if n.Count() == 1 {
		return lane
	}
	return shardName(lane, n.shardOf(taskID))
}

// shardOf is the shard index of a task id.
func (n Shards) shardOf(taskID string) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(taskID)) // a hash.Hash never fails to write
	return int(h.Sum32() % uint32(n.Count()))
}

// Queues are every queue of lane, shard 0 first.
func (n Shards) Queues(lane string) []string {
	if n.Count() == 1 {
		return []string{lane}
	}
	out := make([]string, n.Count())
	for i := range out {
		out[i] = shardName(lane, i)
	}
	return out
}

// AllQueues are every queue of every lane in Lanes, lane by lane.
func (n Shards) AllQueues() []string {
	out := make([]string, 0, len(Lanes)*n.Count())
	for _, lane := range Lanes {
		out = append(out, n.Queues(lane)...)
	}
	return out
}

// shardName names shard i of lane: "transactional.3".
func shardName(lane string, i int) string { return lane + "." + strconv.Itoa(i) }

// LaneOf is the lane a queue belongs to: the queue's name without its
// ".<shard>" suffix ("otp.7" → "otp"); a queue with no suffix (one shard,
// or a queue that is not a lane's, such as "callbacks") is its own lane.
// It does not depend on the shard count, so a worker reading a task still
// tells its lane after SMSFLEET_LANE_SHARDS changed.
func LaneOf(queue string) string {
	i := strings.LastIndexByte(queue, '.')
	if i <= 0 || i == len(queue)-1 || strings.Trim(queue[i+1:], "0123456789") != "" {
		return queue
	}
	return queue[:i]
}
